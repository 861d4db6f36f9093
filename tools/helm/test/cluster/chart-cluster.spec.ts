/**
 * The chart against a real Kubernetes control plane (etcd, kube-apiserver, controller-manager,
 * scheduler; kwok plays the kubelet of fake CPU and GPU nodes): `deploy.ts` per environment for
 * real, upgrades with the GPU pool full, a failing upgrade rolled back, uninstall and reinstall,
 * autoscaling past the pool, a node drain against the PodDisruptionBudget, and topology=split's
 * GPU tier following the queue from zero to N and back (its ScaledObject's query on a real
 * Prometheus scraping a real API, the HPA it drives; KEDA's own part played by `keda-stand-in.ts`).
 *
 * What this cannot prove: no container runs (kwok marks scheduled pods running and ready; probes,
 * the image, the model load and `helm test`'s HTTP call never execute), no real GPU (an extended
 * resource on a fake node), no NFS server (the PersistentVolume binds, nothing mounts it).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { startApi, type LiveApi } from '@t2v/testing/live-api';
import { startPrometheus, type PrometheusProcess } from '@t2v/testing/prometheus';
import { startRedis, type RedisProcess } from '@t2v/testing/redis';

import { HelmDriver } from '../../src/helm.driver';
import { KedaStandIn } from './keda-stand-in';
import { KubeApiError, KubeClient, KubeObject, R } from './kube.client';
import { REPO_ROOT, TestCluster, cpuNode, gpuNode, waitFor } from './cluster.harness';

const CHART_DIR = path.join(REPO_ROOT, 'charts/t2v');
const PREVIOUS_CHART = path.join(REPO_ROOT, 'tools/helm/test/fixtures/t2v-0.1.0.tgz');
const GPU = 'nvidia.com/gpu';
const GPU_NODES = ['gpu-0', 'gpu-1'];

// each case runs helm and deploy.ts against the cluster: seconds each, more on a loaded machine
jest.setTimeout(240_000);

let cluster: TestCluster;
let kube: KubeClient;
let helm: HelmDriver;
let valuesDir: string;

interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `deploy.ts <env> ...args` as a user runs it, against the test cluster's kubeconfig. */
function runDeploy(env: string, ...args: string[]): Promise<ProcResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', '@swc-node/register', path.join(REPO_ROOT, 'tools/helm/src/deploy.ts'), env, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, KUBECONFIG: cluster.kubeconfig }, timeout: 180_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function valuesFile(name: string, yaml: string): string {
  const f = path.join(valuesDir, `${name}.yaml`);
  writeFileSync(f, yaml);
  return f;
}

async function pods(ns: string, selector = 'app.kubernetes.io/component=api'): Promise<KubeObject[]> {
  return (await kube.list(R.pods, ns, { labelSelector: selector })).filter(
    (p) => !p.metadata.deletionTimestamp,
  );
}

const isReady = (p: KubeObject): boolean =>
  (p.status?.conditions ?? []).some(
    (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
  );

/** Waits until the Deployment rolled out completely (kubectl rollout status), returns its pods. */
async function rolledOut(
  ns: string,
  name: string,
  replicas: number,
  timeoutMs = 60_000,
): Promise<KubeObject[]> {
  await waitFor(
    `deployment ${ns}/${name} rolled out with ${replicas} replicas`,
    async () => {
      const d = await kube.get(R.deployments, ns, name);
      const s = d.status ?? {};
      return (
        d.spec.replicas === replicas &&
        (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        s.updatedReplicas === replicas &&
        s.availableReplicas === replicas &&
        s.replicas === replicas
      );
    },
    timeoutMs,
  );
  const ready = await waitFor(`${replicas} ready pods in ${ns}`, async () => {
    const ps = await pods(ns);
    return ps.length === replicas && ps.every(isReady) ? ps : undefined;
  });
  return ready;
}

async function secret(ns: string, name: string, data: Record<string, string>): Promise<void> {
  await kube.create(R.secrets, ns, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    stringData: data,
  });
}

async function namespace(name: string): Promise<void> {
  await kube.create(R.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  // a live namespace has its default ServiceAccount once the controller-manager saw it
  await waitFor(`namespace ${name} ready`, async () =>
    kube.find({ base: '/api/v1', plural: 'serviceaccounts', namespaced: true }, name, 'default'),
  );
}

function gpuLimit(p: KubeObject): string | undefined {
  return p.spec.containers[0].resources?.limits?.[GPU];
}

/** Nothing of the release is left terminating: pods and the namespaced objects are gone. */
async function nothingTerminating(ns: string): Promise<void> {
  await waitFor(`no pod left in ${ns}`, async () => (await kube.list(R.pods, ns)).length === 0, 60_000);
}

beforeAll(async () => {
  cluster = await TestCluster.start();
  kube = cluster.client;
  helm = new HelmDriver({ kubeconfig: cluster.kubeconfig, cwd: REPO_ROOT, processTimeoutMs: 120_000 });
  valuesDir = mkdtempSync(path.join(tmpdir(), 't2v-values-'));
  // A CPU pool and a GPU pool of exactly two GPUs, one per node.
  await cluster.addNodes([cpuNode('cpu-0'), cpuNode('cpu-1'), ...GPU_NODES.map((n) => gpuNode(n, 1))]);
  // No provisioner: a default StorageClass with pre-provisioned volumes for the RWO claims
  // (dev's outputs, each Redis); the RWX claims bind to the chart's own NFS PersistentVolume.
  await kube.create(R.storageclasses, undefined, {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'Immediate',
    reclaimPolicy: 'Retain',
  });
  for (let i = 0; i < 6; i++) {
    await kube.create(R.pvs, undefined, {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `local-${i}` },
      spec: {
        capacity: { storage: '10Gi' },
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'standard',
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: `/var/lib/t2v-test/local-${i}` },
      },
    });
  }
}, 180_000);

afterAll(async () => {
  if (valuesDir) rmSync(valuesDir, { recursive: true, force: true });
  await cluster?.stop();
}, 60_000);

afterEach(() => {
  const state = expect.getState();
  if (state.assertionCalls > 0 && state.numPassingAsserts < state.assertionCalls && cluster) {
    process.stderr.write(`${state.currentTestName} failed; control plane logs:\n${cluster.logTails(8)}\n`);
  }
});

describe('every CI scenario against the API server', () => {
  const ns = 't2v-scenarios';
  const scenarios = ['default', 'keda', 'production', 'secrets', 'split', 't4-nfs-nodeport'];

  it.each(scenarios)(
    'ci/%s-values.yaml: every object, CRD-backed ones included, passes a server-side dry run',
    async (name) => {
      if (!(await kube.find(R.namespaces, undefined, ns))) {
        await namespace(ns);
        await secret(ns, 't2v-api-keys', { 'api-keys': 'k' });
        await secret(ns, 't2v-redis', { 'redis-password': 'p' });
        await secret(ns, 't2v-redis-url', { 'redis-url': 'redis://redis.example:6379/0' });
        await secret(ns, 't2v-redis-auth', { 'redis-password': 'p' });
        await secret(ns, 't2v-oidc', {
          'jwks-url': 'https://idp.test/jwks',
          issuer: 'https://idp.test',
          audience: 't2v',
        });
        await secret(ns, 't2v-webhook', { 'webhook-secret': `whsec_${'A'.repeat(43)}=` });
        await secret(ns, 't2v-extra', { token: 't' });
      }
      const out = await helm.upgradeInstall(`t2v-${name}`, CHART_DIR, {
        namespace: ns,
        values: [path.join(CHART_DIR, `ci/${name}-values.yaml`)],
        dryRun: true,
      });
      expect(out.stdout).toContain('STATUS: pending-install');
      if (name === 'keda') expect(out.stdout).toContain('kind: ScaledObject');
      if (name === 'production') expect(out.stdout).toContain('kind: ServiceMonitor');
      // a dry run leaves nothing behind
      expect(await helm.list({ namespace: ns })).toEqual([]);
    },
  );
});

describe('dev (CPU, synthetic engine)', () => {
  const ns = 't2v-dev';

  it('deploy.ts dev installs, every object accepted, pods ready on the CPU pool, the claim bound', async () => {
    const r = await runDeploy('dev', '--timeout=90s');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^t2v in t2v-dev: deployed, revision 1$/m);
    const ps = await rolledOut(ns, 't2v', 1);
    for (const p of ps) expect(p.spec.nodeName).toMatch(/^cpu-/);
    const pvc = await kube.get(R.pvcs, ns, 't2v');
    expect(pvc.status.phase).toBe('Bound');
    expect(pvc.spec.storageClassName).toBe('standard'); // defaulted by the API server
    const status = await helm.status('t2v', { namespace: ns });
    expect(status.info.notes).toContain('rollout status deployment/t2v');
  });

  it('uninstall removes what it installed, nothing stuck terminating, the outputs claim kept; a reinstall reuses it', async () => {
    const pvc = await kube.get(R.pvcs, ns, 't2v');
    await helm.uninstall('t2v', { namespace: ns, wait: true, timeout: '60s' });
    await nothingTerminating(ns);
    expect(await kube.find(R.deployments, ns, 't2v')).toBeUndefined();
    expect(await kube.find(R.services, ns, 't2v')).toBeUndefined();
    expect(await kube.find(R.configmaps, ns, 't2v')).toBeUndefined();
    // documented retention: outputs outlive the release
    const kept = await kube.get(R.pvcs, ns, 't2v');
    expect(kept.metadata.uid).toBe(pvc.metadata.uid);
    expect(kept.status.phase).toBe('Bound');

    const r = await runDeploy('dev', '--timeout=90s');
    expect(r.code).toBe(0);
    await rolledOut(ns, 't2v', 1);
    const again = await kube.get(R.pvcs, ns, 't2v');
    expect(again.metadata.uid).toBe(pvc.metadata.uid);
    expect(again.spec.volumeName).toBe(pvc.spec.volumeName);
    await helm.uninstall('t2v', { namespace: ns, wait: true, timeout: '60s' });
    await nothingTerminating(ns);
  });

  it('upgrades a release of the previous chart version in place, deleting nothing', async () => {
    const compat = 't2v-compat';
    await helm.upgradeInstall('t2v', PREVIOUS_CHART, {
      namespace: compat,
      createNamespace: true,
      values: [path.join(CHART_DIR, 'environments/dev.yaml')],
      wait: true,
      timeout: '90s',
    });
    await rolledOut(compat, 't2v', 1);
    const uids = async () =>
      Promise.all([
        kube.get(R.deployments, compat, 't2v'),
        kube.get(R.services, compat, 't2v'),
        kube.get(R.pvcs, compat, 't2v'),
        kube.get(R.configmaps, compat, 't2v'),
      ]).then((os) => os.map((o) => o.metadata.uid));
    const before = await uids();
    const r = await runDeploy('dev', `--namespace=${compat}`, '--timeout=90s');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/deployed, revision 2/);
    await rolledOut(compat, 't2v', 1);
    expect(await uids()).toEqual(before);
    await helm.uninstall('t2v', { namespace: compat, wait: true, timeout: '60s' });
    await nothingTerminating(compat);
  });
});

describe('staging (one GPU, NFS, Redis, NodePort)', () => {
  const ns = 't2v-staging';

  it('refuses to install while the API-key Secret the values name does not exist, saying which', async () => {
    await namespace(ns);
    const r = await runDeploy('staging', '--timeout=60s');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('auth.existingSecret: Secret t2v-api-keys not found in namespace t2v-staging');
    expect(await helm.list({ namespace: ns })).toEqual([]);
  });

  it('deploy.ts staging: the GPU pod on a GPU node with its GPU, NFS and Redis claims bound, monitoring objects selectable', async () => {
    await secret(ns, 't2v-api-keys', { 'api-keys': 'staging-key' });
    const r = await runDeploy('staging', '--timeout=90s');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [p] = await rolledOut(ns, 't2v', 1);
    expect(GPU_NODES).toContain(p!.spec.nodeName);
    expect(gpuLimit(p!)).toBe('1');
    const rwx = await kube.get(R.pvcs, ns, 't2v');
    expect(rwx.status.phase).toBe('Bound');
    expect(rwx.spec.accessModes).toEqual(['ReadWriteMany']);
    const pv = await kube.get(R.pvs, undefined, rwx.spec.volumeName);
    expect(pv.spec.nfs).toEqual({ server: 'nfs.staging.internal', path: '/srv/nfs/t2v' });
    await rolledOutStatefulSet(ns, 't2v-redis');
    const redisClaim = await kube.get(R.pvcs, ns, 'data-t2v-redis-0');
    expect(redisClaim.status.phase).toBe('Bound');
    const [redisPod] = await pods(ns, 'app.kubernetes.io/component=redis');
    expect(redisPod!.spec.nodeName).toMatch(/^cpu-/); // the GPU taint keeps it off GPU nodes
    const sm = await kube.get(R.serviceMonitors, ns, 't2v');
    expect(sm.metadata.labels?.release).toBe('kube-prometheus-stack');
    const rule = await kube.get(R.prometheusRules, ns, 't2v');
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    const dashboards = await kube.list(R.configmaps, ns, { labelSelector: 'grafana_dashboard=1' });
    expect(dashboards.length).toBeGreaterThanOrEqual(2);
    const svc = await kube.get(R.services, ns, 't2v');
    expect(svc.spec.ports[0].nodePort).toBe(31080);
  });

  it('an upgrade whose only pod cannot be scheduled fails the deploy and is rolled back, though helm --wait accepted it', async () => {
    const d0 = await kube.get(R.deployments, ns, 't2v');
    const tooBig = valuesFile('two-gpus', 'gpu:\n  count: 2\nconfig:\n  devices: ""\n');
    const r = await runDeploy('staging', `--values=${tooBig}`, '--timeout=20s');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('rollout of release t2v in t2v-staging did not finish in time');
    expect(r.stderr).toMatch(/Insufficient nvidia\.com\/gpu/);
    expect(r.stderr).toContain('rolled back to revision 1');
    const history = await helm.run(['history', '--output=json', `--namespace=${ns}`, 't2v']);
    const revs = JSON.parse(history.stdout) as { revision: number; status: string; description: string }[];
    expect(revs.at(-1)).toMatchObject({ revision: 3, status: 'deployed', description: 'Rollback to 1' });
    const [p] = await rolledOut(ns, 't2v', 1);
    expect(gpuLimit(p!)).toBe('1');
    const d1 = await kube.get(R.deployments, ns, 't2v');
    expect(d1.spec.template.spec.containers[0].image).toBe(d0.spec.template.spec.containers[0].image);
  });

  it('a second release with the same fixed NodePort is refused with the port named; the first is untouched', async () => {
    const other = 't2v-staging-b';
    await namespace(other);
    await secret(other, 't2v-api-keys', { 'api-keys': 'b-key' });
    const before = (await pods(ns)).map((p) => p.metadata.uid);
    const r = await runDeploy('staging', `--namespace=${other}`, '--timeout=60s');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/31080.*already allocated/);
    expect((await pods(ns)).map((p) => p.metadata.uid)).toEqual(before);
    // the documented way out: let Kubernetes choose the port for the second release
    const own = valuesFile('any-port', 'service:\n  nodePort: 0\n');
    const ok = await runDeploy('staging', `--namespace=${other}`, `--values=${own}`, '--timeout=90s');
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const svc = await kube.get(R.services, other, 't2v');
    expect(svc.spec.ports[0].nodePort).not.toBe(31080);
    for (const n of [other, ns]) {
      await helm.uninstall('t2v', { namespace: n, wait: true, timeout: '60s' });
      await nothingTerminating(n);
    }
  });
});

async function rolledOutStatefulSet(ns: string, name: string): Promise<void> {
  await waitFor(`statefulset ${ns}/${name} ready`, async () => {
    const s = await kube.get(R.statefulsets, ns, name);
    return s.status?.readyReplicas === s.spec.replicas && s.status?.updatedReplicas === s.spec.replicas;
  });
}

describe('split: an API tier always on, a GPU tier that follows the queue from zero', () => {
  const ns = 't2v-split';
  const GPU_SELECTOR = 'app.kubernetes.io/component=gpu';
  let redis: RedisProcess | undefined;
  let prometheus: PrometheusProcess | undefined;
  let apiTier: LiveApi | undefined;
  let gpuTier: LiveApi | undefined;
  let standIn: KedaStandIn | undefined;
  let storageDir: string;
  const jobIds: string[] = [];

  /** The local processes the ScaledObject's query reads through Prometheus: the real API tier on Redis. */
  const tierEnv = (role: 'api' | 'gpu') => ({
    T2V_ROLE: role,
    T2V_QUEUE: 'redis',
    REDIS_URL: redis!.url,
    T2V_STORAGE_DIR: storageDir,
    T2V_SYNTHETIC_STEP_MS: '20',
  });

  const replicas = async (name: string): Promise<number> =>
    (await kube.get(R.deployments, ns, name)).spec.replicas as number;

  afterAll(async () => {
    if (standIn) process.stderr.write(`stand-in polls:\n${standIn.describe()}\n`);
    await standIn?.stop();
    await helm.uninstall('t2v', { namespace: ns, wait: true, timeout: '60s' }).catch(() => undefined);
    await Promise.all([gpuTier?.stop(), apiTier?.stop(), prometheus?.stop()]);
    await redis?.stop();
    if (storageDir) rmSync(storageDir, { recursive: true, force: true });
  });

  it('installs with a GPU floor of 0: API pods ready on CPU nodes, no GPU pod', async () => {
    redis = await startRedis();
    storageDir = mkdtempSync(path.join(tmpdir(), 't2v-split-videos-'));
    apiTier = await startApi(tierEnv('api'));
    prometheus = await startPrometheus([
      { address: new URL(apiTier.url).host, labels: { job: 't2v', namespace: ns } },
    ]);
    await namespace(ns);
    await helm.upgradeInstall('t2v', CHART_DIR, {
      namespace: ns,
      values: [path.join(CHART_DIR, 'ci/split-values.yaml')],
      set: {
        // KEDA's Prometheus is the one scraping the API tier here; quick polls, a short cooldown
        'keda.serverAddress': prometheus.url,
        'keda.pollingInterval': 1,
        'keda.cooldownPeriod': 8,
        'keda.scaleDownStabilizationWindowSeconds': 0,
        'redis.persistence.enabled': false,
      },
      wait: true,
      timeout: '90s',
    });
    const apiPods = await rolledOut(ns, 't2v', 2);
    for (const p of apiPods) expect(p.spec.nodeName).toMatch(/^cpu-/);
    expect(await replicas('t2v-gpu')).toBe(0);
    expect(await pods(ns, GPU_SELECTOR)).toEqual([]);
    const so = await kube.get(R.scaledObjects, ns, 't2v-gpu');
    expect(so.spec).toMatchObject({ minReplicaCount: 0, scaleTargetRef: { name: 't2v-gpu' } });
    // The API tier answers without any GPU.
    expect((await fetch(`${apiTier.url}/readyz`)).status).toBe(200);
  });

  it('with jobs queued, the ScaledObject’s query on a real Prometheus wakes the GPU tier: GPU pods on GPU nodes, the HPA takes it to N', async () => {
    standIn = await KedaStandIn.start(kube, ns, 't2v-gpu', mkdtempSync(path.join(tmpdir(), 't2v-keda-tls-')));
    // The query runs against real scrapes of the API: nothing queued, nothing running yet.
    await waitFor(
      'Prometheus to scrape the API tier',
      async () => (await prometheus!.value('t2v_queue_depth')) === 0,
    );
    expect(await standIn.value()).toBe(0);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${apiTier!.url}/v1/videos`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          prompt: `cold start ${i}`,
          size: '256x256',
          seconds: 1,
          num_inference_steps: 2,
        }),
      });
      const video = (await res.json()) as { id: string; status: string; queue_reason: string };
      expect(video).toMatchObject({ status: 'queued', queue_reason: 'gpu_capacity' });
      jobIds.push(video.id);
    }
    await waitFor('the query to see 3 jobs', async () => (await standIn!.value()) === 3, 30_000);
    const first = await waitFor('a GPU pod', async () => {
      const ps = await pods(ns, GPU_SELECTOR);
      return ps.length > 0 && ps.every((p) => p.spec.nodeName) ? ps : undefined;
    });
    for (const p of first) expect(GPU_NODES).toContain(p.spec.nodeName);
    // The HPA KEDA drives reads the same query through the external metrics API: 3 jobs, 1 per pod,
    // capped by maxReplicaCount 2 (and the two GPU nodes).
    const gpuPods = await waitFor(
      'the HPA to take the GPU tier to 2 pods',
      async () => {
        const ps = (await pods(ns, GPU_SELECTOR)).filter(isReady);
        return ps.length === 2 ? ps : undefined;
      },
      90_000,
    );
    expect(gpuPods.map((p) => p.spec.nodeName).sort()).toEqual(GPU_NODES);
    for (const p of gpuPods) expect(gpuLimit(p)).toBe('1');
    const hpa = await kube.get(R.hpas, ns, standIn.hpaName);
    expect(hpa.status.desiredReplicas).toBe(2);
    expect(hpa.status.currentMetrics[0].external.metric.name).toBe('s0-prometheus');
    expect(await replicas('t2v-gpu')).toBe(2);
    // Woken from zero by the operator's activation, then taken further by the HPA alone.
    expect(standIn.polls.filter((p) => p.to !== null).map((p) => [p.replicas, p.to])).toEqual([[0, 1]]);
  });

  it('with the queue empty past the cooldown it returns to zero while the API keeps answering', async () => {
    // GPU work itself runs in a local GPU-tier process (kwok's pods run nothing).
    gpuTier = await startApi(tierEnv('gpu'));
    await waitFor(
      'the jobs to complete',
      async () => {
        const all = await Promise.all(
          jobIds.map(
            async (id) =>
              ((await (await fetch(`${apiTier!.url}/v1/videos/${id}`)).json()) as { status: string }).status,
          ),
        );
        return all.every((s) => s === 'completed');
      },
      60_000,
    );
    await waitFor('the query to see an empty queue', async () => (await standIn!.value()) === 0, 30_000);
    let apiAnswered = 0;
    await waitFor(
      'the GPU tier to return to zero',
      async () => {
        // The API keeps answering all the while: its pods stay ready, the API process serves.
        expect((await pods(ns)).filter(isReady)).toHaveLength(2);
        expect((await fetch(`${apiTier!.url}/v1/videos?limit=3`)).status).toBe(200);
        apiAnswered += 1;
        return (await replicas('t2v-gpu')) === 0 && (await pods(ns, GPU_SELECTOR)).length === 0;
      },
      90_000,
      500,
    );
    // Not before the cooldown: 8 s from the last poll that saw a job queued or running.
    const toZero = standIn!.polls.find((p) => p.to === 0)!;
    const lastActive = standIn!.polls.filter((p) => p.active && p.at < toZero.at).at(-1)!;
    expect(toZero.at - lastActive.at).toBeGreaterThanOrEqual(8000);
    expect(toZero.at - lastActive.at).toBeLessThan(20_000);
    expect(apiAnswered).toBeGreaterThan(3);
    expect((await fetch(`${apiTier!.url}/readyz`)).status).toBe(200);
    await standIn!.stop();
    standIn = undefined;
    await helm.uninstall('t2v', { namespace: ns, wait: true, timeout: '60s' });
    await nothingTerminating(ns);
  });
});

describe('prod (HPA over a full GPU pool, Redis, NFS, ingress, network policy)', () => {
  const ns = 't2v';
  let firstPods: string[] = [];

  it('deploy.ts prod: two replicas fill the two-GPU pool, one per GPU node; HPA, PDB and monitoring objects in place', async () => {
    await namespace(ns);
    await secret(ns, 't2v-api-keys', { 'api-keys': 'prod-key' });
    await secret(ns, 't2v-redis', { 'redis-password': 'prodredispassword' });
    const r = await runDeploy('prod', '--timeout=90s');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // the HPA raises the Deployment to minReplicas
    const ps = await rolledOut(ns, 't2v', 2);
    expect(ps.map((p) => p.spec.nodeName).sort()).toEqual(GPU_NODES);
    for (const p of ps) expect(gpuLimit(p)).toBe('1');
    firstPods = ps.map((p) => p.metadata.uid!);
    const hpa = await kube.get(R.hpas, ns, 't2v');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', name: 't2v' });
    expect(hpa.spec.minReplicas).toBe(2);
    const pdb = await kube.get(R.pdbs, ns, 't2v');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect((await kube.get(R.pvcs, ns, 't2v')).status.phase).toBe('Bound');
    await rolledOutStatefulSet(ns, 't2v-redis');
    expect((await kube.get(R.pvcs, ns, 'data-t2v-redis-0')).status.phase).toBe('Bound');
    await kube.get(R.serviceMonitors, ns, 't2v');
    await kube.get(R.prometheusRules, ns, 't2v');
    await kube.raw('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/t2v`);
    await kube.raw('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/t2v`);
  });

  it('an upgrade with a new image tag and changed settings finishes with every GPU taken (no surge pod needed)', async () => {
    const next = valuesFile('next', 'image:\n  tag: 0.1.1\nconfig:\n  logLevel: debug\n');
    const r = await runDeploy('prod', `--values=${next}`, '--timeout=90s');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/deployed, revision 2/);
    const ps = await rolledOut(ns, 't2v', 2);
    for (const p of ps) {
      expect(p.spec.containers[0].image).toBe('ghcr.io/t2v/t2v:0.1.1');
      expect(firstPods).not.toContain(p.metadata.uid);
    }
    const cm = await kube.get(R.configmaps, ns, 't2v');
    expect(cm.data.LOG_LEVEL).toBe('debug');
  });

  it('an upgrade that cannot become ready fails within its timeout, --atomic rolls it back, the release stays on its revision', async () => {
    const before = await rolledOut(ns, 't2v', 2);
    const tooBig = valuesFile(
      'next-two-gpus',
      'image:\n  tag: 0.1.1\nconfig:\n  logLevel: debug\ngpu:\n  count: 2\n',
    );
    const started = Date.now();
    const r = await runDeploy('prod', `--values=${tooBig}`, '--timeout=20s');
    expect(r.code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(90_000);
    expect(r.stderr).toMatch(/has been rolled back due to atomic being set/);
    const history = JSON.parse(
      (await helm.run(['history', '--output=json', `--namespace=${ns}`, 't2v'])).stdout,
    ) as { revision: number; status: string; description: string }[];
    expect(history.at(-1)).toMatchObject({ status: 'deployed', description: 'Rollback to 2' });
    const after = await rolledOut(ns, 't2v', 2);
    for (const p of after) {
      expect(gpuLimit(p)).toBe('1');
      expect(p.spec.containers[0].image).toBe('ghcr.io/t2v/t2v:0.1.1');
    }
    // maxUnavailable 1: the rollout may replace one pod before it fails; the other is untouched
    const kept = after.filter((p) => before.some((b) => b.metadata.uid === p.metadata.uid));
    expect(kept.length).toBeGreaterThanOrEqual(1);
  });

  it('helm rollback to the first revision rolls out with the pool full', async () => {
    await helm.rollback('t2v', 1, { namespace: ns, wait: true, timeout: '90s' });
    const ps = await rolledOut(ns, 't2v', 2);
    for (const p of ps) expect(p.spec.containers[0].image).toBe('ghcr.io/t2v/t2v:0.1.0');
  });

  it('desired replicas beyond the GPU pool leave the extra pod Pending (unschedulable, not crash-looping)', async () => {
    await kube.patch(R.hpas, ns, 't2v', { spec: { minReplicas: 3 } });
    const pending = await waitFor('a third, unschedulable pod', async () => {
      const ps = await pods(ns);
      return ps.length === 3 ? ps.find((p) => p.status?.phase === 'Pending') : undefined;
    });
    const sched = await waitFor('the scheduler to give up on it', async () => {
      const p = await kube.get(R.pods, ns, pending.metadata.name);
      return (p.status?.conditions ?? []).find(
        (c: { type: string; status: string }) => c.type === 'PodScheduled' && c.status === 'False',
      );
    });
    expect(sched.reason).toBe('Unschedulable');
    expect(sched.message).toMatch(/Insufficient nvidia\.com\/gpu/);
    const p = await kube.get(R.pods, ns, pending.metadata.name);
    expect(p.spec.nodeName).toBeUndefined();
    expect(p.status.containerStatuses ?? []).toEqual([]);
    expect((await pods(ns)).filter(isReady)).toHaveLength(2);
    // without a metric the HPA never scales down inside its bounds: lower the ceiling, then restore it
    await kube.patch(R.hpas, ns, 't2v', { spec: { minReplicas: 2, maxReplicas: 2 } });
    await rolledOut(ns, 't2v', 2);
    await kube.patch(R.hpas, ns, 't2v', { spec: { maxReplicas: 8 } });
  });

  it('the PodDisruptionBudget keeps a drain of both GPU nodes from taking both replicas down', async () => {
    await rolledOut(ns, 't2v', 2);
    await waitFor('the PDB to allow one disruption', async () => {
      const pdb = await kube.get(R.pdbs, ns, 't2v');
      return pdb.status?.disruptionsAllowed === 1;
    });
    const drain = async (node: string): Promise<{ evicted: string[]; refused: string[] }> => {
      await kube.patch(R.nodes, undefined, node, { spec: { unschedulable: true } });
      const evicted: string[] = [];
      const refused: string[] = [];
      for (const p of (await pods(ns)).filter((x) => x.spec.nodeName === node)) {
        try {
          await kube.evict(ns, p.metadata.name);
          evicted.push(p.metadata.name);
        } catch (e) {
          if (e instanceof KubeApiError && e.statusCode === 429) refused.push(p.metadata.name);
          else throw e;
        }
      }
      return { evicted, refused };
    };
    const first = await drain('gpu-0');
    expect(first.evicted).toHaveLength(1);
    // its replacement has nowhere to go: gpu-0 is cordoned and gpu-1's GPU is taken
    const second = await drain('gpu-1');
    expect(second.evicted).toEqual([]);
    expect(second.refused).toHaveLength(1);
    const running = (await pods(ns)).filter(isReady);
    expect(running.map((p) => p.spec.nodeName)).toEqual(['gpu-1']);
    for (const n of GPU_NODES) await kube.patch(R.nodes, undefined, n, { spec: { unschedulable: null } });
    await rolledOut(ns, 't2v', 2);
  });

  it('helm test: the readiness test pod is accepted and scheduled (a fake node runs no container, so it never completes)', async () => {
    const run = helm.run(['test', `--namespace=${ns}`, '--timeout=10s', 't2v']).then(
      () => 'passed',
      (e: Error) => e.message,
    );
    const testPod = await waitFor('the test pod', async () => {
      const [p] = await kube.list(R.pods, ns, { labelSelector: 'app.kubernetes.io/component=test' });
      return p?.spec.nodeName ? p : undefined;
    });
    expect(testPod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(testPod.spec.containers[0].command.at(-1)).toBe('http://t2v.t2v.svc:80/readyz');
    expect(testPod.metadata.labels?.['app.kubernetes.io/component']).toBe('test');
    // kwok completes only Job pods: the hook times out rather than pass without having run
    expect(await run).toMatch(/timed out|deadline/);
    await kube.delete(R.pods, ns, testPod.metadata.name);
  });

  it('uninstall leaves nothing terminating and keeps outputs and the Redis data; a reinstall binds them again', async () => {
    const outputs = await kube.get(R.pvcs, ns, 't2v');
    const redisData = await kube.get(R.pvcs, ns, 'data-t2v-redis-0');
    await helm.uninstall('t2v', { namespace: ns, wait: true, timeout: '60s' });
    await nothingTerminating(ns);
    expect(await kube.find(R.deployments, ns, 't2v')).toBeUndefined();
    expect(await kube.find(R.statefulsets, ns, 't2v-redis')).toBeUndefined();
    expect(await kube.find(R.hpas, ns, 't2v')).toBeUndefined();
    expect(await kube.find(R.serviceMonitors, ns, 't2v')).toBeUndefined();
    const kept = await kube.get(R.pvcs, ns, 't2v');
    expect(kept.metadata.uid).toBe(outputs.metadata.uid);
    expect(kept.status.phase).toBe('Bound');
    // the NFS volume is kept with its claim, not left Terminating under it
    const pv = await kube.get(R.pvs, undefined, kept.spec.volumeName);
    expect(pv.metadata.deletionTimestamp).toBeUndefined();
    expect(pv.status.phase).toBe('Bound');
    expect((await kube.get(R.pvcs, ns, 'data-t2v-redis-0')).metadata.uid).toBe(redisData.metadata.uid);

    const r = await runDeploy('prod', '--timeout=90s');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await rolledOut(ns, 't2v', 2);
    const again = await kube.get(R.pvcs, ns, 't2v');
    expect(again.metadata.uid).toBe(outputs.metadata.uid);
    expect(again.status.phase).toBe('Bound');
    await rolledOutStatefulSet(ns, 't2v-redis');
  });
});
