/**
 * The chart's pod as real containers: `helm template` (the typed driver) renders the chart, and
 * its ConfigMap, Secret, claim and Deployment are started with `podman kube play` on the podman
 * bridge network, where this machine reaches the pod's own address and port. What a cluster adds
 * around a pod is done here the way the kubelet and the API server do it:
 *
 * - probes are HTTP GETs on the pod's address, path and port from the rendered probe (200-399);
 * - a stop runs the rendered preStop command in the container, then SIGTERM, then SIGKILL once
 *   the rest of terminationGracePeriodSeconds has passed (`podman stop --time`);
 * - a Secret's `stringData` is merged into `data` (what the API server stores), and the Secret
 *   becomes a podman secret holding that `data` as JSON, the form podman's `secretKeyRef` reads
 *   (podman 4.3 stores a Secret given to `kube play` in a form it then cannot read);
 * - an emptyDir is a fresh tmpfs of the pod's own with mode 0777, as the kubelet makes it (podman
 *   4.3 would share one volume named after it between all pods, owned by root); its sizeLimit,
 *   which the kubelet enforces by eviction, is not enforced;
 * - the Service is not run: the chart is rendered with `service.port` equal to the container
 *   port, and its DNS name is given to the `helm test` pod as a host alias of the pod's address.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { stringify } from 'yaml';

import { HelmValue } from '../../src/helm.driver';
import { Podman } from '../../src/image/podman';
import { K8sObject, parseManifests } from '../../src/manifests';
import { Any, CHART_DIR, helm, KUBE_VERSION, NAMESPACE } from '../chart.harness';

export interface ChartPodOptions {
  /** the image to run, `registry/repository:tag` (both chart images are set to it). */
  image: string;
  /** a release name of its own: every object name starts with it. */
  release: string;
  values?: readonly string[];
  set?: Record<string, HelmValue>;
  podman?: Podman;
}

export interface ProcessStatus {
  hostPid: number;
  command: string;
  uid: string;
  gid: string;
  capEff: string;
  capPrm: string;
  capBnd: string;
  capAmb: string;
  noNewPrivs: string;
  seccomp: string;
}

function splitImage(ref: string): { registry: string; repository: string; tag: string } {
  const slash = ref.indexOf('/');
  const colon = ref.lastIndexOf(':');
  return {
    registry: ref.slice(0, slash),
    repository: ref.slice(slash + 1, colon),
    tag: ref.slice(colon + 1),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ChartPod {
  readonly objects: K8sObject[];
  private readonly dir: string;
  private podName = '';
  private started = false;
  private readonly emptyDirs: string[] = [];
  /** the API container's name (podman: <pod>-<container>). */
  container = '';
  /** the pod's address on the podman network. */
  address = '';

  private constructor(
    readonly podman: Podman,
    readonly release: string,
    objects: K8sObject[],
  ) {
    this.objects = objects;
    this.dir = mkdtempSync(path.join(tmpdir(), 't2v-chart-pod-'));
  }

  /** Renders the chart and starts its pod; call `down()` whatever happens. */
  static async render(opts: ChartPodOptions): Promise<ChartPod> {
    const img = splitImage(opts.image);
    const out = await helm.template(opts.release, CHART_DIR, {
      namespace: NAMESPACE,
      kubeVersion: KUBE_VERSION,
      values: (opts.values ?? []).map((v) => path.join(CHART_DIR, v)),
      set: {
        'image.registry': img.registry,
        'image.repository': img.repository,
        'image.tag': img.tag,
        'apiImage.registry': img.registry,
        'apiImage.repository': img.repository,
        'apiImage.tag': img.tag,
        // the image is in local storage only, as on a node that already has it
        'image.pullPolicy': 'Never',
        // the Service port equals the container port (no Service runs; see above)
        'service.port': 8080,
        ...opts.set,
      },
    });
    return new ChartPod(opts.podman ?? new Podman(), opts.release, parseManifests(out.stdout));
  }

  kind(kind: string): Any[] {
    return this.objects.filter((o) => o.kind === kind) as Any[];
  }

  get deployment(): Any {
    const [d] = this.kind('Deployment');
    if (!d) throw new Error('the chart rendered no Deployment');
    return d;
  }

  get apiContainer(): Any {
    return this.deployment.spec.template.spec.containers[0];
  }

  get containerPort(): number {
    return this.apiContainer.ports[0].containerPort as number;
  }

  get graceSeconds(): number {
    return this.deployment.spec.template.spec.terminationGracePeriodSeconds as number;
  }

  url(p: string): string {
    return `http://${this.address}:${this.containerPort}${p}`;
  }

  /** What the API server stores for a Secret: `stringData` merged into base64 `data`. */
  private static stored(o: Any): Any {
    if (o.kind !== 'Secret' || !o.stringData) return o;
    const data: Record<string, string> = { ...(o.data ?? {}) };
    for (const [k, v] of Object.entries(o.stringData as Record<string, string>))
      data[k] = Buffer.from(v).toString('base64');
    const { stringData: _drop, ...rest } = o;
    return { ...rest, data };
  }

  /** The Secrets as podman secrets, then `podman kube play` of the ConfigMaps, claims and the Deployment. */
  async play(): Promise<void> {
    this.started = true;
    for (const secret of this.kind('Secret')) {
      const file = path.join(this.dir, `${secret.metadata.name}.json`);
      writeFileSync(file, JSON.stringify(ChartPod.stored(secret).data ?? {}));
      await this.podman.run(['secret', 'create', secret.metadata.name, file]);
    }
    const docs: Any[] = this.objects.filter((o) => ['ConfigMap', 'PersistentVolumeClaim'].includes(o.kind));
    docs.push(await this.ownEmptyDirs(this.deployment));
    const file = path.join(this.dir, 'pod.yaml');
    writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
    const pod = await this.kubePlay(file);
    this.podName = pod.Name;
    this.container = pod.Containers.find((c: Any) => c.Name.endsWith(`-${this.apiContainer.name}`)).Name;
    await this.readAddress();
  }

  private async readAddress(): Promise<void> {
    const pod = JSON.parse(await this.podman.run(['pod', 'inspect', this.podName])) as Any;
    const infra = await this.podman.containerInspect(pod.InfraContainerID);
    this.address = Object.values(infra.NetworkSettings.Networks ?? {})[0]?.IPAddress ?? '';
    if (!this.address) throw new Error(`pod ${this.podName} has no address on the podman network`);
  }

  /**
   * Starts the stopped pod again with the same volumes, as the kubelet restarts a container
   * (podman stops the whole pod once its container exits: the address may change).
   */
  async restart(): Promise<void> {
    await this.podman.run(['pod', 'start', this.podName]);
    await this.readAddress();
  }

  /** The Deployment with each emptyDir renamed to a tmpfs volume made for this pod. */
  private async ownEmptyDirs(deployment: Any): Promise<Any> {
    const copy = structuredClone(deployment);
    const spec = copy.spec.template.spec;
    for (const volume of spec.volumes.filter((v: Any) => v.emptyDir)) {
      const name = `${this.release}-${volume.name}`;
      await this.podman.run([
        'volume',
        'create',
        '--opt=type=tmpfs',
        '--opt=device=tmpfs',
        '--opt=o=mode=0777',
        name,
      ]);
      this.emptyDirs.push(name);
      for (const c of spec.containers)
        for (const m of c.volumeMounts ?? []) if (m.name === volume.name) m.name = name;
      volume.name = name;
    }
    return copy;
  }

  /** `podman kube play` of one file; the pod it started (`podman pod inspect`). */
  private async kubePlay(file: string): Promise<Any> {
    const out = await this.podman.run(['kube', 'play', '--network=podman', file], 5 * 60_000);
    const id = /^Pod:\s*\n(\w+)/m.exec(out)?.[1];
    if (!id) throw new Error(`podman kube play started no pod:\n${out}`);
    return JSON.parse(await this.podman.run(['pod', 'inspect', id]));
  }

  /** One kubelet HTTP probe: true for 200-399. */
  async probe(kind: 'startupProbe' | 'readinessProbe' | 'livenessProbe'): Promise<boolean> {
    const p = this.apiContainer[kind];
    if (!p) throw new Error(`the container has no ${kind}`);
    try {
      const r = await fetch(this.url(p.httpGet.path), {
        signal: AbortSignal.timeout((p.timeoutSeconds ?? 1) * 1000),
      });
      return r.status >= 200 && r.status < 400;
    } catch {
      return false;
    }
  }

  /**
   * Waits as the kubelet does: the startup probe until it passes (failing the pod after its
   * period x threshold, capped at `capMs`), then the readiness probe. Returns the seconds taken.
   */
  async waitReady(capMs: number): Promise<number> {
    const started = Date.now();
    const s = this.apiContainer.startupProbe;
    const budget = Math.min(capMs, s.periodSeconds * s.failureThreshold * 1000);
    while (!(await this.probe('startupProbe'))) {
      const state = await this.podman.containerInspect(this.container);
      if (!state.State.Running)
        throw new Error(`the container exited (${state.State.ExitCode}):\n${await this.logs()}`);
      if (Date.now() - started > budget)
        throw new Error(`the startup probe did not pass within ${budget} ms:\n${await this.logs()}`);
      await sleep(500);
    }
    if (!(await this.probe('readinessProbe'))) throw new Error('startup passed but readiness did not');
    return (Date.now() - started) / 1000;
  }

  logs(): Promise<string> {
    return this.podman.logs(this.container);
  }

  /** Host path of the claim's volume. */
  async volumePath(claim: string): Promise<string> {
    const [v] = JSON.parse(await this.podman.run(['volume', 'inspect', claim])) as Any[];
    return v.Mountpoint as string;
  }

  /** Every process of the API container, read from the host's /proc. */
  async processes(): Promise<ProcessStatus[]> {
    const out = await this.podman.run(['top', this.container, 'hpid']);
    const pids = out
      .split('\n')
      .slice(1)
      .map((l) => Number(l.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
    return pids.map((hostPid) => {
      const status = readFileSync(`/proc/${hostPid}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
      return {
        hostPid,
        command: readFileSync(`/proc/${hostPid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' '),
        uid: field('Uid'),
        gid: field('Gid'),
        capEff: field('CapEff'),
        capPrm: field('CapPrm'),
        capBnd: field('CapBnd'),
        capAmb: field('CapAmb'),
        noNewPrivs: field('NoNewPrivs'),
        seccomp: field('Seccomp'),
      };
    });
  }

  /**
   * Stops the container as the kubelet does: the preStop command, then SIGTERM, SIGKILL when the
   * grace period is over. Returns the exit code and the seconds from SIGTERM to exit.
   */
  async terminate(
    beforeSignal: () => Promise<void> = async () => {},
  ): Promise<{ exitCode: number; seconds: number; preStopExitCode: number | null }> {
    const started = Date.now();
    const preStop = this.apiContainer.lifecycle?.preStop?.exec?.command as string[] | undefined;
    let preStopExitCode: number | null = null;
    if (preStop) {
      preStopExitCode = (await this.podman.exec(this.container, preStop, this.graceSeconds * 1000)).exitCode;
    }
    await beforeSignal();
    const left = Math.max(1, this.graceSeconds - Math.ceil((Date.now() - started) / 1000));
    const signalled = Date.now();
    await this.podman.run(['stop', `--time=${left}`, this.container], (left + 30) * 1000);
    const seconds = (Date.now() - signalled) / 1000;
    const state = await this.podman.containerInspect(this.container);
    return { exitCode: state.State.ExitCode, seconds, preStopExitCode };
  }

  /**
   * `helm test`: the chart's test pods, each with the Service's DNS name pointing at the pod's
   * address; resolves with each one's exit code and output.
   */
  async helmTests(): Promise<{ name: string; exitCode: number; output: string }[]> {
    const results = [];
    const service = this.kind('Service')[0];
    const serviceHost = `${service.metadata.name}.${service.metadata.namespace}.svc`;
    for (const pod of this.kind('Pod').filter((p) => p.metadata.annotations?.['helm.sh/hook'] === 'test')) {
      const spec = {
        ...pod,
        spec: { ...pod.spec, hostAliases: [{ ip: this.address, hostnames: [serviceHost] }] },
      };
      const file = path.join(this.dir, `${pod.metadata.name}.yaml`);
      writeFileSync(file, stringify(spec));
      const played = await this.kubePlay(file);
      const container = played.Containers.find((c: Any) => c.Id !== played.InfraContainerID).Name as string;
      await this.podman.run(['wait', container], 2 * 60_000);
      const state = await this.podman.containerInspect(container);
      results.push({
        name: pod.metadata.name,
        exitCode: state.State.ExitCode,
        output: await this.podman.logs(container),
      });
      await this.podman.attempt(['kube', 'down', file]);
    }
    return results;
  }

  /** Removes the pod, its volumes and secrets, and the rendered files. */
  async down(): Promise<void> {
    if (this.started) {
      await this.podman.attempt(['kube', 'down', path.join(this.dir, 'pod.yaml')], 2 * 60_000);
      for (const claim of this.kind('PersistentVolumeClaim'))
        await this.podman.attempt(['volume', 'rm', '--force', claim.metadata.name]);
      for (const secret of this.kind('Secret'))
        await this.podman.attempt(['secret', 'rm', secret.metadata.name]);
      for (const name of this.emptyDirs) await this.podman.attempt(['volume', 'rm', '--force', name]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
