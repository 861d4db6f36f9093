/**
 * A stand-in for KEDA's operator and metrics adapter, for one ScaledObject with a `prometheus`
 * trigger, in the chart's cluster tests. KEDA is not built here (its cold build costs more than the
 * CI run can spare: docs/adr/0066-gpu-tier-scaling-and-keda.md), so this does, for the ScaledObject
 * the chart installed, what KEDA documents it does, and nothing else:
 *
 * - the operator: every `pollingInterval` it runs the trigger's `query` against `serverAddress`;
 *   a value above `activationThreshold` is active. Active with the target at 0 replicas: scale it
 *   to max(minReplicaCount, 1). Inactive for `cooldownPeriod` since the last active poll with
 *   `minReplicaCount: 0`: scale it to 0. It creates the HorizontalPodAutoscaler KEDA creates
 *   (`keda-hpa-<name>`: an External metric `s0-prometheus`, AverageValue `threshold`, the
 *   ScaledObject's bounds and behavior), which scales from 1 to maxReplicaCount;
 * - the metrics adapter: it serves `external.metrics.k8s.io/v1beta1` (the trigger's query,
 *   evaluated when the HPA controller asks) behind an APIService, over TLS on loopback.
 *
 * Everything around it is real: the API server and its aggregation layer, the HPA controller, the
 * scheduler, the Deployment, the Prometheus server and the API process it scrapes.
 */
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { makeCa, signCertificate } from '@t2v/testing/tls';

import { KubeClient, KubeObject, R, Resource } from './kube.client';

const APISERVICES: Resource = {
  base: '/apis/apiregistration.k8s.io/v1',
  plural: 'apiservices',
  namespaced: false,
};
const GROUP_VERSION = 'external.metrics.k8s.io/v1beta1';
const NAMESPACE = 'keda-stand-in';
/** The name KEDA gives the first trigger's metric of a prometheus trigger. */
export const METRIC = 's0-prometheus';

interface Trigger {
  serverAddress: string;
  query: string;
  threshold: number;
  activationThreshold: number;
}

/** One poll of the stand-in operator: the trigger's value and what it did. */
export interface Poll {
  at: number;
  value: number;
  active: boolean;
  replicas: number;
  /** The replicas it scaled the target to, if it did. */
  to: number | null;
}

export class KedaStandIn {
  /** Every poll, in order. */
  readonly polls: Poll[] = [];
  /** Polls that failed, for failure messages. */
  readonly errors: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastActive = Date.now();
  private polling = false;

  private constructor(
    private readonly kube: KubeClient,
    private readonly scaledObject: KubeObject,
    private readonly trigger: Trigger,
    private readonly server: Server,
  ) {}

  get hpaName(): string {
    return `keda-hpa-${this.scaledObject.metadata.name}`;
  }

  /** Reads ScaledObject `ns/name` from the API server and starts doing KEDA's part for it. */
  static async start(kube: KubeClient, ns: string, name: string, tlsDir: string): Promise<KedaStandIn> {
    const so = await kube.get(R.scaledObjects, ns, name);
    const [t] = so.spec.triggers as Array<{ type: string; metadata: Record<string, string> }>;
    if (so.spec.triggers.length !== 1 || t!.type !== 'prometheus')
      throw new Error(`${ns}/${name}: the stand-in does one prometheus trigger`);
    const trigger: Trigger = {
      serverAddress: t!.metadata['serverAddress']!,
      query: t!.metadata['query']!,
      threshold: Number(t!.metadata['threshold']),
      activationThreshold: Number(t!.metadata['activationThreshold'] ?? 0),
    };
    makeCa(tlsDir, 'metrics-ca', '/CN=keda-stand-in-ca');
    signCertificate(tlsDir, {
      name: 'metrics',
      ca: 'metrics-ca',
      subject: '/CN=localhost',
      extensions: 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth',
    });
    const server = createServer({
      key: readFileSync(path.join(tlsDir, 'metrics.key')),
      cert: readFileSync(path.join(tlsDir, 'metrics.crt')),
    });
    const standIn = new KedaStandIn(kube, so, trigger, server);
    server.on('request', (req, res) => void standIn.serve(req.url ?? '/', res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await standIn.register((server.address() as AddressInfo).port);
    standIn.timer = setInterval(() => void standIn.poll(), Number(so.spec.pollingInterval ?? 30) * 1000);
    await standIn.poll();
    return standIn;
  }

  /** The trigger's value now (the query against the trigger's Prometheus), 0 when it has no series. */
  async value(): Promise<number> {
    const url = `${this.trigger.serverAddress}/api/v1/query?query=${encodeURIComponent(this.trigger.query)}`;
    const body = (await (await fetch(url)).json()) as {
      status: string;
      error?: string;
      data: { result: Array<{ value: [number, string] }> };
    };
    if (body.status !== 'success') throw new Error(`${this.trigger.query}: ${body.error}`);
    const [first] = body.data.result;
    return first ? Number(first.value[1]) : 0;
  }

  private async serve(url: string, res: import('node:http').ServerResponse): Promise<void> {
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const { pathname } = new URL(url, 'https://localhost');
    if (pathname === `/apis/${GROUP_VERSION}`) {
      return json(200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: GROUP_VERSION,
        resources: [
          {
            name: 'externalmetrics',
            singularName: '',
            namespaced: true,
            kind: 'ExternalMetricValueList',
            verbs: ['get'],
          },
        ],
      });
    }
    const m = new RegExp(`^/apis/${GROUP_VERSION}/namespaces/([^/]+)/([^/]+)$`).exec(pathname);
    if (!m || m[1] !== this.scaledObject.metadata.namespace || m[2] !== METRIC) {
      return json(404, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'NotFound',
        code: 404,
      });
    }
    try {
      const value = await this.value();
      json(200, {
        kind: 'ExternalMetricValueList',
        apiVersion: GROUP_VERSION,
        metadata: {},
        items: [
          {
            metricName: METRIC,
            metricLabels: {},
            timestamp: new Date().toISOString(),
            value: `${Math.round(value * 1000)}m`,
          },
        ],
      });
    } catch (e) {
      json(500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: String(e), code: 500 });
    }
  }

  /** The APIService the adapter is reached through, and the HPA the operator creates. */
  private async register(port: number): Promise<void> {
    const so = this.scaledObject;
    if (!(await this.kube.find(R.namespaces, undefined, NAMESPACE))) {
      await this.kube.create(R.namespaces, undefined, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: NAMESPACE },
      });
    }
    // An ExternalName Service: the aggregation layer resolves it to localhost, where this serves.
    await this.kube.create(R.services, NAMESPACE, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'keda-metrics', namespace: NAMESPACE },
      spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ port, protocol: 'TCP' }] },
    });
    await this.kube.create(APISERVICES, undefined, {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: `v1beta1.external.metrics.k8s.io` },
      spec: {
        group: 'external.metrics.k8s.io',
        version: 'v1beta1',
        service: { namespace: NAMESPACE, name: 'keda-metrics', port },
        insecureSkipTLSVerify: true,
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    });
    const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
    await this.kube.create(R.hpas, so.metadata.namespace, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: {
        name: this.hpaName,
        namespace: so.metadata.namespace,
        labels: {
          'app.kubernetes.io/managed-by': 'keda-operator',
          'scaledobject.keda.sh/name': so.metadata.name,
        },
      },
      spec: {
        scaleTargetRef: so.spec.scaleTargetRef,
        minReplicas: Math.max(1, Number(so.spec.minReplicaCount ?? 0)),
        maxReplicas: Number(so.spec.maxReplicaCount ?? 100),
        metrics: [
          {
            type: 'External',
            external: {
              metric: {
                name: METRIC,
                selector: { matchLabels: { 'scaledobject.keda.sh/name': so.metadata.name } },
              },
              target: { type: 'AverageValue', averageValue: String(this.trigger.threshold) },
            },
          },
        ],
        ...(behavior ? { behavior } : {}),
      },
    });
  }

  /** One poll of the operator: activation from zero, deactivation to zero after the cooldown. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const so = this.scaledObject;
      const ns = so.metadata.namespace!;
      const target = so.spec.scaleTargetRef.name as string;
      const value = await this.value();
      const active = value > this.trigger.activationThreshold;
      const replicas = (await this.kube.get(R.deployments, ns, target)).spec.replicas as number;
      const min = Number(so.spec.minReplicaCount ?? 0);
      let to: number | null = null;
      if (active) {
        this.lastActive = Date.now();
        if (replicas === 0) to = Math.max(min, 1);
      } else if (
        min === 0 &&
        replicas > 0 &&
        Date.now() - this.lastActive >= Number(so.spec.cooldownPeriod ?? 300) * 1000
      ) {
        to = 0;
      }
      if (to !== null) await this.kube.patch(R.deployments, ns, target, { spec: { replicas: to } }, 'scale');
      this.polls.push({ at: Date.now(), value, active, replicas, to });
    } catch (e) {
      this.errors.push(`${new Date().toISOString()} poll failed: ${(e as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const ns = this.scaledObject.metadata.namespace!;
    await this.kube.delete(R.hpas, ns, this.hpaName).catch(() => undefined);
    await this.kube.delete(APISERVICES, undefined, 'v1beta1.external.metrics.k8s.io').catch(() => undefined);
    await this.kube.delete(R.services, NAMESPACE, 'keda-metrics').catch(() => undefined);
    await new Promise((r) => this.server.close(r));
  }

  /** The polls, one line each, for failure messages. */
  describe(last = 20): string {
    return [
      ...this.polls
        .slice(-last)
        .map(
          (p) =>
            `${new Date(p.at).toISOString()} value=${p.value} active=${p.active} replicas=${p.replicas}${p.to === null ? '' : ` → ${p.to}`}`,
        ),
      ...this.errors.slice(-5),
    ].join('\n');
  }
}
