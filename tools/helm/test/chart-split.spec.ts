/**
 * topology=split on `helm template`: an always-on API tier and a GPU tier that follows the queue
 * (ci/split-values.yaml), what each tier gets, and what combined keeps as it was.
 */
import { HelmError } from '../src/helm.errors';
import { K8sObject, kinds, one } from '../src/manifests';
import { Any, NAMESPACE, render } from './chart.harness';

const API = 't2v';
const GPU = 't2v-gpu';
const component = (c: string) => ({
  'app.kubernetes.io/name': 't2v',
  'app.kubernetes.io/instance': 't2v',
  'app.kubernetes.io/component': c,
});
const deployment = (objects: K8sObject[], name: string): Any => one(objects, 'Deployment', name);
const container = (objects: K8sObject[], name: string): Any =>
  deployment(objects, name).spec.template.spec.containers[0];
const env = (objects: K8sObject[], name: string): Record<string, string> =>
  Object.fromEntries((container(objects, name).env ?? []).map((e: Any) => [e.name, e.value]));

let split: K8sObject[];
let combined: K8sObject[];

beforeAll(async () => {
  [split, combined] = await Promise.all([render(['ci/split-values.yaml']), render(['ci/keda-values.yaml'])]);
});

describe('topology=split', () => {
  it('runs t2v-api (no Python, no GPU libraries) on both tiers for the synthetic engine', async () => {
    const synthetic = await render(['ci/split-values.yaml'], {
      'config.engine': 'synthetic',
      'apiImage.tag': '1.2.3',
    });
    for (const tier of [API, GPU]) expect(container(synthetic, tier).image).toBe('ghcr.io/t2v/t2v-api:1.2.3');
  });

  it('renders an API Deployment and a GPU Deployment, the one Service and Ingress reaching API pods only', () => {
    expect(kinds(split, 'Deployment').map((d) => d.metadata.name)).toEqual([API, GPU]);
    expect(deployment(split, API).spec.selector.matchLabels).toEqual(component('api'));
    expect(deployment(split, GPU).spec.selector.matchLabels).toEqual(component('gpu'));
    expect((one(split, 'Service', API) as Any).spec.selector).toEqual(component('api'));
    // The GPU tier's Service is for scraping its metrics; no client is sent there.
    expect((one(split, 'Service', GPU) as Any).spec).toMatchObject({
      type: 'ClusterIP',
      selector: component('gpu'),
    });
  });

  it('runs each tier in its role, the API tier with no GPU', () => {
    expect(env(split, API)['T2V_ROLE']).toBe('api');
    expect(env(split, GPU)['T2V_ROLE']).toBe('gpu');
    // engine wan: the API tier prints the worker's model card at boot, so both tiers run t2v
    expect(container(split, API).image).toBe('ghcr.io/t2v/t2v:0.1.0');
    expect(container(split, GPU).image).toBe('ghcr.io/t2v/t2v:0.1.0');
    expect(container(split, API).imagePullPolicy).toBe('IfNotPresent');
    expect(container(split, API).resources.limits).not.toHaveProperty('nvidia.com/gpu');
    expect(container(split, GPU).resources.limits['nvidia.com/gpu']).toBe(1);
    const apiPod = deployment(split, API).spec.template.spec;
    const gpuPod = deployment(split, GPU).spec.template.spec;
    expect(apiPod.tolerations).toBeUndefined();
    expect(apiPod.nodeSelector).toBeUndefined();
    expect(gpuPod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(apiPod.volumes.map((v: Any) => v.name)).not.toContain('shm');
    // Both read the one outputs volume; the API tier also sees the profile beside the weights.
    for (const pod of [apiPod, gpuPod]) {
      expect(pod.volumes.find((v: Any) => v.name === 'data').persistentVolumeClaim.claimName).toBe('t2v');
    }
    expect(container(split, API).volumeMounts).toContainEqual({
      name: 'data',
      mountPath: '/models',
      subPath: 'models',
      readOnly: true,
    });
  });

  it('keeps at least two API pods up: autoscaled on CPU from 2, rolled out with a surge, a PDB of 1', () => {
    const hpa = one(split, 'HorizontalPodAutoscaler', API) as Any;
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { kind: 'Deployment', name: API },
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { averageUtilization: 70 } } }],
    });
    expect(deployment(split, API).spec.replicas).toBeUndefined();
    expect(deployment(split, API).spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    expect((one(split, 'PodDisruptionBudget', API) as Any).spec).toEqual({
      minAvailable: 1,
      selector: { matchLabels: component('api') },
    });
  });

  it('scales the GPU tier with KEDA on queued + running jobs, from zero, back to zero after the cooldown', () => {
    const so = one(split, 'ScaledObject') as Any;
    expect(so.metadata.name).toBe(GPU);
    expect(so.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: GPU },
      minReplicaCount: 0,
      maxReplicaCount: 2,
      cooldownPeriod: 300,
    });
    expect(so.spec.triggers[0].metadata).toMatchObject({
      query: `max(t2v_queue_depth{job="${API}",namespace="${NAMESPACE}"}) + max(t2v_jobs_in_progress{job="${API}",namespace="${NAMESPACE}"})`,
      threshold: '1',
      activationThreshold: '0',
    });
    // Installed with no GPU pod: KEDA starts it when the first job is queued.
    expect(deployment(split, GPU).spec.replicas).toBe(0);
    expect(kinds(split, 'HorizontalPodAutoscaler').map((h) => h.metadata.name)).toEqual([API]);
  });

  it('gives a GPU pod the grace to finish the longest allowed job before it is removed', () => {
    const grace = deployment(split, GPU).spec.template.spec.terminationGracePeriodSeconds;
    const cm = (one(split, 'ConfigMap', API) as Any).data;
    // The longest allowed job is what the grace period leaves it after the preStop sleep and 15 s.
    expect(grace).toBe(1800);
    expect(cm['T2V_SHUTDOWN_GRACE_S']).toBe('1770');
    expect(cm['T2V_JOB_TIMEOUT_S']).toBe('1770');
    // The API tier runs no job: a short grace of its own.
    expect(deployment(split, API).spec.template.spec.terminationGracePeriodSeconds).toBe(60);
    expect(env(split, API)['T2V_SHUTDOWN_GRACE_S']).toBe('30');
    expect((one(split, 'PodDisruptionBudget', GPU) as Any).spec.maxUnavailable).toBe(1);
  });

  it('falls back to an HPA with a floor of one GPU pod where KEDA is absent', async () => {
    const hpaOnly = await render(['ci/split-values.yaml'], {
      'keda.enabled': false,
      'autoscaling.enabled': true,
      'autoscaling.minReplicas': 1,
    });
    expect(kinds(hpaOnly, 'ScaledObject')).toEqual([]);
    const hpa = one(hpaOnly, 'HorizontalPodAutoscaler', GPU) as Any;
    expect(hpa.spec).toMatchObject({ scaleTargetRef: { name: GPU }, minReplicas: 1 });
    // The queue depth the API Service reports (every tier reads the same shared store).
    expect(hpa.spec.metrics[0].object.describedObject).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      name: API,
    });
    expect(deployment(hpaOnly, GPU).spec.replicas).toBeUndefined();
  });

  it('scrapes both tiers and alerts on no ready worker only while jobs are queued', () => {
    const sm = one(split, 'ServiceMonitor') as Any;
    expect(sm.spec.selector).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 't2v', 'app.kubernetes.io/instance': 't2v' },
      matchExpressions: [{ key: 'app.kubernetes.io/component', operator: 'In', values: ['api', 'gpu'] }],
    });
    const rules = (one(split, 'PrometheusRule') as Any).spec.groups[0].rules;
    const noWorker = rules.find((r: Any) => r.alert === 'T2VNoReadyWorker');
    expect(noWorker.expr).toContain(`job=~"${API}|${GPU}"`);
    expect(noWorker.expr).toMatch(/and on\(\) \(max\(t2v_queue_depth\{job="t2v",namespace="t2v"\}\) > 0\)$/);
  });

  it('lets GPU pods reach Redis and DNS, and only Prometheus reach them', () => {
    const gpuPolicy = one(split, 'NetworkPolicy', GPU) as Any;
    expect(gpuPolicy.spec.podSelector.matchLabels).toEqual(component('gpu'));
    expect(gpuPolicy.spec.ingress).toHaveLength(1);
    expect(gpuPolicy.spec.ingress[0].from[0].podSelector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'prometheus',
    });
    const egressPorts = gpuPolicy.spec.egress.flatMap((e: Any) => e.ports.map((p: Any) => p.port));
    expect(egressPorts.sort()).toEqual([53, 53, 6379]);
    const redisPolicy = one(split, 'NetworkPolicy', 't2v-redis') as Any;
    expect(redisPolicy.spec.ingress[0].from.map((f: Any) => f.podSelector.matchLabels)).toEqual([
      component('api'),
      component('gpu'),
    ]);
  });
});

describe('topology=combined (the default) is the one Deployment it always was', () => {
  it('renders one Deployment whose pods are the API and the GPU workers, without a role', () => {
    expect(kinds(combined, 'Deployment').map((d) => d.metadata.name)).toEqual([API]);
    expect(env(combined, API)).not.toHaveProperty('T2V_ROLE');
    expect(kinds(combined, 'Service').map((s) => s.metadata.name)).toEqual([API]);
    expect((one(combined, 'ScaledObject') as Any).spec.scaleTargetRef.name).toBe(API);
  });
});

describe('refusals', () => {
  const refusal = async (set: Record<string, unknown>, values: string[] = ['ci/split-values.yaml']) => {
    const err = await render(values, set as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HelmError);
    return (err as HelmError).message;
  };

  it.each([
    [
      { 'queue.driver': 'embedded', 'redis.enabled': false },
      'topology=split: the API and GPU tiers share jobs through Redis',
    ],
    [
      { 'persistence.accessModes': ['ReadWriteOnce'] },
      'topology=split: the API tier serves what GPU pods write',
    ],
    [
      { 'api.autoscaling.enabled': false, 'api.replicaCount': 1 },
      'api.replicaCount: the API tier is always on',
    ],
    [{ 'api.autoscaling.minReplicas': 1 }, 'api.autoscaling.minReplicas: the API tier is always on'],
    [
      { 'config.jobTimeoutSeconds': 3600 },
      "config.jobTimeoutSeconds (3600 s) is longer than a stopping GPU pod's grace period leaves a job (terminationGracePeriodSeconds - preStopSleepSeconds - 15 s = 1770 s)",
    ],
  ])('refuses %j', async (set, message) => {
    expect(await refusal(set)).toContain(message);
  });

  it('refuses a KEDA floor of zero in combined, where every pod also serves the API', async () => {
    expect(await refusal({ 'keda.minReplicas': 0 }, ['ci/keda-values.yaml'])).toContain(
      'keda.minReplicas=0: only topology=split scales GPU pods to zero',
    );
  });
});
