/**
 * A small typed client for the throwaway API server of the cluster tests: plain HTTPS with the
 * harness's own CA and admin client certificate. It speaks only what the tests need (get, list,
 * create, patch, delete, evict), and every non-2xx answer becomes a KubeApiError that carries the
 * API server's Status message.
 */
import { request } from 'node:https';

export interface KubeCredentials {
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  ownerReferences?: { kind: string; name: string; uid: string }[];
  resourceVersion?: string;
  generation?: number;
}

/** Any object the API serves; specs and statuses are checked loosely in assertions. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [key: string]: any;
}

export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${reason}: ${message}`);
  }
}

/** Where a resource lives: `/api/v1` or `/apis/<group>/<version>`, its plural, and whether namespaced. */
export interface Resource {
  base: string;
  plural: string;
  namespaced: boolean;
}

export const R = {
  namespaces: { base: '/api/v1', plural: 'namespaces', namespaced: false },
  nodes: { base: '/api/v1', plural: 'nodes', namespaced: false },
  pods: { base: '/api/v1', plural: 'pods', namespaced: true },
  services: { base: '/api/v1', plural: 'services', namespaced: true },
  secrets: { base: '/api/v1', plural: 'secrets', namespaced: true },
  configmaps: { base: '/api/v1', plural: 'configmaps', namespaced: true },
  events: { base: '/api/v1', plural: 'events', namespaced: true },
  pvcs: { base: '/api/v1', plural: 'persistentvolumeclaims', namespaced: true },
  pvs: { base: '/api/v1', plural: 'persistentvolumes', namespaced: false },
  deployments: { base: '/apis/apps/v1', plural: 'deployments', namespaced: true },
  replicasets: { base: '/apis/apps/v1', plural: 'replicasets', namespaced: true },
  statefulsets: { base: '/apis/apps/v1', plural: 'statefulsets', namespaced: true },
  hpas: { base: '/apis/autoscaling/v2', plural: 'horizontalpodautoscalers', namespaced: true },
  pdbs: { base: '/apis/policy/v1', plural: 'poddisruptionbudgets', namespaced: true },
  storageclasses: { base: '/apis/storage.k8s.io/v1', plural: 'storageclasses', namespaced: false },
  crds: {
    base: '/apis/apiextensions.k8s.io/v1',
    plural: 'customresourcedefinitions',
    namespaced: false,
  },
  serviceMonitors: { base: '/apis/monitoring.coreos.com/v1', plural: 'servicemonitors', namespaced: true },
  prometheusRules: { base: '/apis/monitoring.coreos.com/v1', plural: 'prometheusrules', namespaced: true },
  scaledObjects: { base: '/apis/keda.sh/v1alpha1', plural: 'scaledobjects', namespaced: true },
} satisfies Record<string, Resource>;

export class KubeClient {
  constructor(private readonly creds: KubeCredentials) {}

  path(r: Resource, namespace?: string, name?: string, sub?: string): string {
    let p = r.base;
    if (r.namespaced && namespace !== undefined) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${r.plural}`;
    if (name !== undefined) p += `/${encodeURIComponent(name)}`;
    if (sub) p += `/${sub}`;
    return p;
  }

  async get(r: Resource, namespace: string | undefined, name: string): Promise<KubeObject> {
    return (await this.request('GET', this.path(r, namespace, name))) as KubeObject;
  }

  /** The object, or undefined on 404. */
  async find(r: Resource, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    try {
      return await this.get(r, namespace, name);
    } catch (e) {
      if (e instanceof KubeApiError && e.statusCode === 404) return undefined;
      throw e;
    }
  }

  async list(
    r: Resource,
    namespace?: string,
    query: { labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<KubeObject[]> {
    const qs = new URLSearchParams();
    if (query.labelSelector) qs.set('labelSelector', query.labelSelector);
    if (query.fieldSelector) qs.set('fieldSelector', query.fieldSelector);
    const q = qs.toString();
    const out = (await this.request('GET', this.path(r, namespace) + (q ? `?${q}` : ''))) as {
      items: KubeObject[];
    };
    return out.items;
  }

  async create(r: Resource, namespace: string | undefined, obj: KubeObject): Promise<KubeObject> {
    return (await this.request('POST', this.path(r, namespace), obj)) as KubeObject;
  }

  /** JSON merge patch. */
  async patch(
    r: Resource,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    sub?: string,
  ): Promise<KubeObject> {
    return (await this.request(
      'PATCH',
      this.path(r, namespace, name, sub),
      patch,
      'application/merge-patch+json',
    )) as KubeObject;
  }

  async delete(r: Resource, namespace: string | undefined, name: string): Promise<void> {
    await this.request('DELETE', this.path(r, namespace, name));
  }

  /** POST an Eviction, as `kubectl drain` does; a PodDisruptionBudget may refuse it with 429. */
  async evict(namespace: string, pod: string): Promise<void> {
    await this.request('POST', this.path(R.pods, namespace, pod, 'eviction'), {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: pod, namespace },
    });
  }

  async raw(method: string, path: string, body?: unknown): Promise<unknown> {
    return this.request(method, path, body);
  }

  private request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<unknown> {
    const url = new URL(path, this.creds.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          // no pooled keep-alive sockets left open to a server the harness is about to stop
          agent: false,
          ca: this.creds.ca,
          cert: this.creds.cert,
          key: this.creds.key,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': contentType, 'content-length': payload.length } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : {};
            } catch {
              json = { message: text };
            }
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) {
              resolve(json);
              return;
            }
            const st = json as { reason?: string; message?: string };
            reject(new KubeApiError(method, path, code, st.reason ?? '', st.message ?? text));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }
}
