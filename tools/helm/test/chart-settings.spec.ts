/** Chart unit tests: the settings the chart promises, asserted on `helm template` output. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { K8sObject, one } from '../src/manifests';
import { Any, CHART_DIR, NAMESPACE, render } from './chart.harness';

const NAME = 't2v';
const SELECTOR = {
  'app.kubernetes.io/name': 't2v',
  'app.kubernetes.io/instance': 't2v',
  'app.kubernetes.io/component': 'api',
};

const pod = (objects: K8sObject[]): Any => (one(objects, 'Deployment', NAME) as Any).spec.template.spec;
const api = (objects: K8sObject[]): Any => pod(objects).containers.find((c: Any) => c.name === 'api');
const config = (objects: K8sObject[]): Record<string, string> =>
  (one(objects, 'ConfigMap', NAME) as Any).data;
const kinds = (objects: K8sObject[]): string[] => objects.map((o) => o.kind);

let defaults: K8sObject[];
let t4: K8sObject[];
let prod: K8sObject[];
let keda: K8sObject[];

beforeAll(async () => {
  [defaults, t4, prod, keda] = await Promise.all([
    render(['ci/default-values.yaml']),
    render(['ci/t4-nfs-nodeport-values.yaml']),
    render(['ci/production-values.yaml']),
    render(['ci/keda-values.yaml']),
  ]);
});

describe('request handling settings', () => {
  it('passes the parameter handling, and the model aliases when there are any', () => {
    expect(config(defaults)['T2V_PARAM_HANDLING']).toBe('lenient');
    expect(config(defaults)).not.toHaveProperty('T2V_MODEL_ALIASES');
    expect(config(prod)['T2V_MODEL_ALIASES']).toBe('sora-2,sora-2-pro');
  });
});

describe('images', () => {
  const DIGEST = `sha256:${'ab'.repeat(32)}`;
  const testPod = (objects: K8sObject[]): Any =>
    objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test');

  it('runs t2v-api (no Python) for the synthetic engine and the t2v image for the Python engines', async () => {
    expect(api(defaults).image).toBe('ghcr.io/t2v/t2v-api:0.1.0');
    expect(api(prod).image).toBe('ghcr.io/t2v/t2v:0.1.0');
    expect(api(await render([], { 'config.engine': 'wan-tiny' })).image).toBe('ghcr.io/t2v/t2v:0.1.0');
    // the helm test pod uses the image the node already has
    for (const objects of [defaults, prod])
      expect(testPod(objects).spec.containers[0].image).toBe(api(objects).image);
  });

  it('t2v-api follows image.registry and image.tag unless it has its own; a digest wins over a tag', async () => {
    const moved = await render([], { 'image.registry': 'registry.example:5000', 'image.tag': '1.2.3' });
    expect(api(moved).image).toBe('registry.example:5000/t2v/t2v-api:1.2.3');
    const own = await render([], {
      'image.tag': '1.2.3',
      'apiImage.registry': 'mirror.example',
      'apiImage.repository': 'cpu/t2v-api',
      'apiImage.tag': '1.2.4',
    });
    expect(api(own).image).toBe('mirror.example/cpu/t2v-api:1.2.4');
    expect(api(await render([], { 'apiImage.tag': '1.2.4', 'apiImage.digest': DIGEST })).image).toBe(
      `ghcr.io/t2v/t2v-api@${DIGEST}`,
    );
    const gpu = await render([], {
      'config.engine': 'wan-tiny',
      'image.tag': '1.2.3',
      'image.digest': DIGEST,
    });
    expect(api(gpu).image).toBe(`ghcr.io/t2v/t2v@${DIGEST}`);
  });
});

describe('Deployment', () => {
  it('runs the API image with its config from a ConfigMap', () => {
    const c = api(defaults);
    expect(c.image).toBe('ghcr.io/t2v/t2v-api:0.1.0');
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.envFrom).toEqual([{ configMapRef: { name: NAME } }]);
    expect(config(defaults)).toMatchObject({
      PORT: '8080',
      HOST: '0.0.0.0',
      T2V_ENGINE: 'synthetic',
      T2V_DEVICES: 'cpu',
      T2V_QUEUE: 'embedded',
      T2V_DATA_DIR: '/data/state',
      T2V_STORAGE_DIR: '/data/videos',
      T2V_MAX_QUEUE: '100',
      T2V_OUTPUT_TTL_HOURS: '168',
      T2V_CPU_OFFLOAD: 'none',
      T2V_VAE_TILING: 'false',
      T2V_VAE_DECODE_BUDGET_MIB: 'auto',
      T2V_STREAM_DECODE: 'true',
      T2V_TRANSFORMER_WEIGHTS: 'bf16',
      T2V_WARMUP: 'true',
      LOG_LEVEL: 'info',
    });
    expect(config(defaults)['T2V_MODEL_PATH']).toBeUndefined();
  });

  it('passes the acceleration options, with the kernel cache on the volume only when compiling', async () => {
    expect(config(defaults)).toMatchObject({ T2V_COMPILE: 'off', T2V_CACHE: 'off' });
    for (const name of [
      'TORCHINDUCTOR_CACHE_DIR',
      'TORCHINDUCTOR_COMPILE_THREADS',
      'T2V_MODEL_PROFILE',
      'T2V_ATTENTION_BACKEND',
      'T2V_MAX_PIXEL_FRAMES',
    ]) {
      expect(config(defaults)[name]).toBeUndefined();
    }
    const fast = await render(['ci/default-values.yaml'], {
      'config.compile': 'blocks',
      'config.stepCache': 'first-block:0.05',
      'config.modelProfile': '/models/FastWan2.2-TI2V-5B-Diffusers/t2v-profile.json',
      'config.attentionBackend': '_flash_3',
      'config.maxPixelFrames': 109045760,
    });
    expect(config(fast)).toMatchObject({
      T2V_COMPILE: 'blocks',
      TORCHINDUCTOR_CACHE_DIR: '/data/inductor-cache',
      // Compile workers bounded (Inductor would start one per CPU of the node).
      TORCHINDUCTOR_COMPILE_THREADS: '4',
      T2V_CACHE: 'first-block:0.05',
      T2V_MODEL_PROFILE: '/models/FastWan2.2-TI2V-5B-Diffusers/t2v-profile.json',
      T2V_ATTENTION_BACKEND: '_flash_3',
      T2V_MAX_PIXEL_FRAMES: '109045760',
    });
  });

  it('passes the decode budget, streamed decode and transformer weights; refuses values the API would', async () => {
    const set = await render(['ci/default-values.yaml'], {
      'config.vaeDecodeBudgetMib': 20000000,
      'config.streamDecode': false,
      'config.transformerWeights': 'fp8',
    });
    expect(config(set)).toMatchObject({
      // A large budget stays an integer (not 2e+07), as the API's and the worker's settings read it.
      T2V_VAE_DECODE_BUDGET_MIB: '20000000',
      T2V_STREAM_DECODE: 'false',
      T2V_TRANSFORMER_WEIGHTS: 'fp8',
    });
    for (const [key, value] of [
      ['config.vaeDecodeBudgetMib', 0],
      ['config.vaeDecodeBudgetMib', 'half'],
      ['config.transformerWeights', 'int8'],
    ] as const) {
      await expect(render(['ci/default-values.yaml'], { [key]: value })).rejects.toThrow(
        key.replace('config.', ''),
      );
    }
  });

  it('requests GPUs in limits and derives one worker per GPU', () => {
    expect(api(defaults).resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(api(t4).resources.limits['nvidia.com/gpu']).toBe(1);
    expect(config(t4)).toMatchObject({
      T2V_DEVICES: '0',
      T2V_ENGINE: 'wan',
      T2V_MODEL_PATH: '/models/Wan2.2-TI2V-5B-Diffusers',
      T2V_CPU_OFFLOAD: 'model',
      T2V_VAE_TILING: 'true',
    });
    expect(api(keda).resources.limits['nvidia.com/gpu']).toBe(2);
    expect(config(keda)['T2V_DEVICES']).toBe('0,1');
  });

  it('schedules onto GPU nodes with node selector and tolerations', () => {
    expect(pod(t4).nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'Tesla-T4' });
    expect(pod(t4).tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });

  it('sizes the startup probe for a model load and probes /readyz and /healthz', () => {
    const c = api(defaults);
    expect(c.startupProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(600);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('drains: preStop sleep, then a grace period longer than a job', () => {
    const c = api(defaults);
    expect(c.lifecycle.preStop.exec.command).toEqual(['/bin/sh', '-c', 'sleep 15']);
    expect(pod(defaults).terminationGracePeriodSeconds).toBe(1800);
    // the API finishes its running job within what the preStop sleep left of the grace period
    expect(config(defaults)).toMatchObject({ T2V_DRAIN_DELAY_S: '0', T2V_SHUTDOWN_GRACE_S: '1770' });
    expect(config(defaults)['T2V_WORKER_STARTUP_TIMEOUT_S']).toBe('840');
  });

  it('runs as non-root with a read-only root filesystem and a writable /tmp', () => {
    const p = pod(defaults);
    expect(p.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(api(defaults).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(api(defaults).volumeMounts).toEqual(expect.arrayContaining([{ name: 'tmp', mountPath: '/tmp' }]));
    expect(p.volumes).toEqual(expect.arrayContaining([{ name: 'tmp', emptyDir: { sizeLimit: '4Gi' } }]));
    expect(config(defaults)['HOME']).toBe('/tmp');
  });

  it('spreads replicas over nodes', () => {
    expect(pod(t4).topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: SELECTOR },
      },
    ]);
    expect((one(t4, 'Deployment') as Any).spec.selector.matchLabels).toEqual(SELECTOR);
  });

  it('never surges: a new pod would need a spare GPU', () => {
    expect((one(defaults, 'Deployment') as Any).spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
    });
  });

  it('leaves replicas to the autoscaler when there is one', () => {
    expect((one(defaults, 'Deployment') as Any).spec.replicas).toBe(1);
    expect((one(prod, 'Deployment') as Any).spec.replicas).toBeUndefined();
    expect((one(keda, 'Deployment') as Any).spec.replicas).toBeUndefined();
  });

  it('rolls pods when the configuration changes', async () => {
    const changed = await render(['ci/default-values.yaml'], { 'config.logLevel': 'debug' });
    const sum = (o: K8sObject[]): string =>
      (one(o, 'Deployment') as Any).spec.template.metadata.annotations['checksum/config'];
    expect(sum(changed)).not.toBe(sum(defaults));
  });

  it('takes API keys from a Secret', async () => {
    const keyed = await render([], { 'auth.apiKeys': ['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb'] });
    const secret = one(keyed, 'Secret', `${NAME}-api-keys`) as Any;
    expect(secret.stringData['api-keys']).toBe('key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb');
    expect(api(keyed).env).toContainEqual({
      name: 'T2V_API_KEYS',
      valueFrom: { secretKeyRef: { name: `${NAME}-api-keys`, key: 'api-keys' } },
    });
    expect(api(prod).env).toContainEqual({
      name: 'T2V_API_KEYS',
      valueFrom: { secretKeyRef: { name: 't2v-api-keys', key: 'api-keys' } },
    });
    expect(api(defaults).env).toBeUndefined();
  });

  it('gives the pod no Kubernetes API token', () => {
    expect(pod(defaults).automountServiceAccountToken).toBe(false);
    expect(pod(defaults).serviceAccountName).toBe(NAME);
    expect((one(defaults, 'ServiceAccount') as Any).automountServiceAccountToken).toBe(false);
  });
});

describe('Service and Ingress', () => {
  it('is a ClusterIP by default and a NodePort on 31080 like the original cluster', () => {
    expect((one(defaults, 'Service', NAME) as Any).spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
      selector: SELECTOR,
    });
    expect((one(t4, 'Service', NAME) as Any).spec.type).toBe('NodePort');
    expect((one(t4, 'Service', NAME) as Any).spec.ports[0].nodePort).toBe(31080);
  });

  it('routes nginx with TLS, long timeouts and unbuffered streaming', () => {
    expect(kinds(defaults)).not.toContain('Ingress');
    const ing = one(prod, 'Ingress') as Any;
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(ing.spec.tls).toEqual([{ hosts: ['t2v.example.com'], secretName: `${NAME}-tls` }]);
    expect(ing.spec.rules[0].host).toBe('t2v.example.com');
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: NAME, port: { name: 'http' } });
    expect(ing.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
      'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
      'nginx.ingress.kubernetes.io/proxy-body-size': '20m',
      'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
      'cert-manager.io/cluster-issuer': 'letsencrypt',
    });
  });
});

describe('autoscaling', () => {
  it('scales on queued jobs per pod through the adapter metric of the Service', () => {
    const hpa = one(prod, 'HorizontalPodAutoscaler') as Any;
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: NAME });
    expect(hpa.spec.minReplicas).toBe(2);
    expect(hpa.spec.maxReplicas).toBe(8);
    expect(hpa.spec.metrics).toEqual([
      {
        type: 'Object',
        object: {
          describedObject: { apiVersion: 'v1', kind: 'Service', name: NAME },
          metric: { name: 't2v_queue_depth' },
          target: { type: 'AverageValue', averageValue: '2' },
        },
      },
    ]);
  });

  it('stabilises scale-down for longer than a model load', () => {
    const hpa = one(prod, 'HorizontalPodAutoscaler') as Any;
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(600);
    expect(hpa.spec.behavior.scaleDown.policies).toEqual([{ type: 'Pods', value: 1, periodSeconds: 300 }]);
  });

  it('can scale on CPU alone, as the original design did', () => {
    const hpa = one(t4, 'HorizontalPodAutoscaler') as Any;
    expect(hpa.spec.metrics).toEqual([
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
      },
    ]);
  });

  it('offers a KEDA ScaledObject with a Prometheus trigger instead of the HPA', () => {
    expect(kinds(keda)).not.toContain('HorizontalPodAutoscaler');
    const so = one(keda, 'ScaledObject') as Any;
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: NAME });
    expect(so.spec).toMatchObject({ minReplicaCount: 1, maxReplicaCount: 6 });
    expect(so.spec.triggers).toEqual([
      {
        type: 'prometheus',
        metricType: 'AverageValue',
        metadata: {
          serverAddress: 'http://kube-prometheus-stack-prometheus.monitoring.svc:9090',
          query: `max(t2v_queue_depth{job="${NAME}",namespace="${NAMESPACE}"})`,
          threshold: '3',
          activationThreshold: '0',
        },
      },
    ]);
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBe(
      900,
    );
    expect(kinds(prod)).not.toContain('ScaledObject');
  });
});

describe('storage', () => {
  it('binds an NFS volume (Retain) to a ReadWriteMany claim', () => {
    const pv = one(t4, 'PersistentVolume') as Any;
    const pvc = one(t4, 'PersistentVolumeClaim', NAME) as Any;
    expect(pv.spec).toMatchObject({
      capacity: { storage: '200Gi' },
      accessModes: ['ReadWriteMany'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      nfs: { server: '10.0.0.10', path: '/srv/nfs/t2v' },
      claimRef: { namespace: NAMESPACE, name: NAME },
    });
    expect(pvc.spec).toMatchObject({
      accessModes: ['ReadWriteMany'],
      storageClassName: '',
      volumeName: pv.metadata.name,
    });
    expect(pvc.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
  });

  it('mounts weights read-only and outputs read-write from the same claim', () => {
    expect(pod(t4).volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: NAME } });
    expect(api(t4).volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'data', mountPath: '/data' },
        { name: 'data', mountPath: '/models', subPath: 'models', readOnly: true },
      ]),
    );
    // engines other than wan read no weights
    expect(api(defaults).volumeMounts.find((m: Any) => m.mountPath === '/models')).toBeUndefined();
  });

  it('uses an existing claim or a StorageClass', () => {
    expect(kinds(prod)).not.toContain('PersistentVolumeClaim');
    expect(pod(prod).volumes).toContainEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 't2v-shared' },
    });
    expect((one(keda, 'PersistentVolumeClaim', NAME) as Any).spec.storageClassName).toBe('nfs-client');
    expect(kinds(keda)).not.toContain('PersistentVolume');
  });
});

describe('Redis', () => {
  it('runs in the release with AOF, noeviction and its own volume', () => {
    const conf = (one(prod, 'ConfigMap', `${NAME}-redis`) as Any).data['redis.conf'];
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    const sts = one(prod, 'StatefulSet', `${NAME}-redis`) as Any;
    expect(sts.spec.volumeClaimTemplates[0].spec).toMatchObject({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'fast-ssd',
      resources: { requests: { storage: '8Gi' } },
    });
    expect(sts.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });

  it('hands the API a URL built from the Redis password Secret', () => {
    const env = api(prod).env as Any[];
    const pw = env.findIndex((e) => e.name === 'REDIS_PASSWORD');
    const url = env.findIndex((e) => e.name === 'REDIS_URL');
    expect(env[pw].valueFrom.secretKeyRef).toEqual({ name: 't2v-redis', key: 'redis-password' });
    expect(env[url].value).toBe(`redis://:$(REDIS_PASSWORD)@${NAME}-redis:6379/0`);
    expect(pw).toBeLessThan(url); // $(VAR) only expands variables defined earlier
    expect(config(prod)['T2V_QUEUE']).toBe('redis');
  });

  it('generates a password when none is given', () => {
    const secret = one(t4, 'Secret', `${NAME}-redis`) as Any;
    expect(secret.stringData['redis-password']).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('takes an external Redis URL from a Secret', async () => {
    expect(api(keda).env).toContainEqual({
      name: 'REDIS_URL',
      valueFrom: { secretKeyRef: { name: 't2v-redis-url', key: 'redis-url' } },
    });
    expect(kinds(keda)).not.toContain('StatefulSet');
    const inline = await render([], {
      'queue.driver': 'redis',
      'redis.external.url': 'rediss://user:pw@redis.example:6380/1',
    });
    expect((one(inline, 'Secret', `${NAME}-redis-url`) as Any).stringData['redis-url']).toBe(
      'rediss://user:pw@redis.example:6380/1',
    );
  });
});

describe('external Redis with Sentinel, TLS and an ACL user (ci/redis-sentinel-values.yaml)', () => {
  let sentinel: K8sObject[];
  beforeAll(async () => {
    sentinel = await render(['ci/redis-sentinel-values.yaml']);
  });

  it('hands the API the sentinels, the user, passwords from Secrets and the durability rule', () => {
    const env = api(sentinel).env as Any[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(byName).toMatchObject({
      REDIS_SENTINELS: [
        'redis-node-0.redis-headless.redis.svc.cluster.local:26379',
        'redis-node-1.redis-headless.redis.svc.cluster.local:26379',
        'redis-node-2.redis-headless.redis.svc.cluster.local:26379',
      ].join(','),
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_USERNAME: 't2v',
      REDIS_PASSWORD: { secretKeyRef: { name: 't2v-redis-auth', key: 'redis-password' } },
      REDIS_SENTINEL_PASSWORD: { secretKeyRef: { name: 't2v-redis-auth', key: 'sentinel-password' } },
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: '/etc/t2v/redis-ca/ca.crt',
      T2V_REDIS_DURABILITY: 'replicas',
      T2V_REDIS_WAIT_REPLICAS: '1',
      T2V_REDIS_WAIT_TIMEOUT_MS: '500',
    });
    expect(byName).not.toHaveProperty('REDIS_URL');
    expect(kinds(sentinel)).not.toContain('StatefulSet');
  });

  it('mounts the CA bundle read-only from its Secret', () => {
    expect(api(sentinel).volumeMounts).toContainEqual({
      name: 'redis-ca',
      mountPath: '/etc/t2v/redis-ca',
      readOnly: true,
    });
    expect(pod(sentinel).volumes).toContainEqual({
      name: 'redis-ca',
      secret: { secretName: 't2v-redis-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
  });

  it('lets the pods reach the sentinels as well as Redis', () => {
    const np = one(sentinel, 'NetworkPolicy', NAME) as Any;
    const redisRule = np.spec.egress.find((r: Any) => r.to?.[0]?.ipBlock?.cidr === '10.0.0.0/8');
    expect(redisRule.ports).toEqual([
      { port: 6379, protocol: 'TCP' },
      { port: 26379, protocol: 'TCP' },
    ]);
  });

  it('leaves the durability rule to the API unless set, and mounts no CA without one', async () => {
    const plain = await render([], { 'queue.driver': 'redis', 'redis.external.url': 'rediss://r:6380' });
    const names = (api(plain).env as Any[]).map((e) => e.name);
    expect(names).not.toContain('T2V_REDIS_DURABILITY');
    expect(names).not.toContain('REDIS_TLS_CA_FILE');
    expect(pod(plain).volumes.map((v: Any) => v.name)).not.toContain('redis-ca');
  });
});

describe('observability', () => {
  it('scrapes /metrics on the http port', () => {
    const sm = one(prod, 'ServiceMonitor') as Any;
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(sm.spec.selector.matchLabels).toEqual(SELECTOR);
    expect(sm.spec.endpoints).toEqual([
      { port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '10s' },
    ]);
  });

  it('alerts on queue wait, restarts, no ready worker, 5xx, job failures and GPU memory', () => {
    const rule = one(prod, 'PrometheusRule') as Any;
    const alerts = rule.spec.groups.flatMap((g: Any) => g.rules.map((r: Any) => r.alert));
    expect(alerts).toEqual([
      'T2VQueueWaitTooLong',
      'T2VWorkerRestarting',
      'T2VNoReadyWorker',
      'T2VHigh5xxRatio',
      'T2VJobFailureRatio',
      'T2VGPUMemoryNearFull',
    ]);
  });

  it('ships every dashboard file in a ConfigMap labelled for the Grafana sidecar', () => {
    const files = readdirSync(path.join(CHART_DIR, 'dashboards')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    const maps = prod.filter(
      (o) => o.kind === 'ConfigMap' && o.metadata.labels?.['grafana_dashboard'] === '1',
    ) as Any[];
    expect(maps).toHaveLength(files.length);
    for (const f of files) {
      const cm = maps.find((m) => f in m.data);
      expect(cm).toBeDefined();
      expect(cm.data[f]).toBe(readFileSync(path.join(CHART_DIR, 'dashboards', f), 'utf8').trimEnd());
      expect(cm.metadata.annotations.grafana_folder).toBe('t2v');
    }
    const kedaMaps = keda.filter((o) => o.metadata.labels?.['grafana_dashboard']);
    expect(kedaMaps.every((m) => m.metadata.namespace === 'monitoring')).toBe(true);
  });

  it('renders no operator objects unless asked', () => {
    for (const k of [
      'ServiceMonitor',
      'PrometheusRule',
      'HorizontalPodAutoscaler',
      'ScaledObject',
      'NetworkPolicy',
    ]) {
      expect(kinds(defaults)).not.toContain(k);
    }
  });
});

describe('availability and network', () => {
  it('lets a drain take one pod at a time', () => {
    expect((one(defaults, 'PodDisruptionBudget') as Any).spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: SELECTOR },
    });
  });

  it('admits only the ingress controller, Prometheus, the release helm test pod and listed clients', () => {
    const np = one(t4, 'NetworkPolicy', NAME) as Any;
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress).toEqual([
      {
        from: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
          },
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
          },
          {
            podSelector: {
              matchLabels: {
                'app.kubernetes.io/name': 't2v',
                'app.kubernetes.io/instance': 't2v',
                'app.kubernetes.io/component': 'test',
              },
            },
          },
          { ipBlock: { cidr: '10.0.0.0/16' } },
        ],
        ports: [{ port: 'http', protocol: 'TCP' }],
      },
    ]);
  });

  it('lets the pods reach DNS, Redis and webhook targets, not the metadata endpoint', () => {
    const egress = (one(t4, 'NetworkPolicy', NAME) as Any).spec.egress;
    expect(egress[0].ports).toEqual([
      { port: 53, protocol: 'UDP' },
      { port: 53, protocol: 'TCP' },
    ]);
    expect(egress[1]).toEqual({
      to: [{ podSelector: { matchLabels: { ...SELECTOR, 'app.kubernetes.io/component': 'redis' } } }],
      ports: [{ port: 6379, protocol: 'TCP' }],
    });
    expect(egress[2].to).toEqual([{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.169.254/32'] } }]);
    const external = (one(keda, 'NetworkPolicy', NAME) as Any).spec.egress;
    expect(external[1]).toEqual({
      to: [{ ipBlock: { cidr: '10.20.0.0/24' } }],
      ports: [{ port: 6379, protocol: 'TCP' }],
    });
  });

  it('lets only the API reach the in-chart Redis', () => {
    const np = one(t4, 'NetworkPolicy', `${NAME}-redis`) as Any;
    expect(np.spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: SELECTOR } }], ports: [{ port: 6379, protocol: 'TCP' }] },
    ]);
    expect(np.spec.egress).toEqual([]);
  });
});
