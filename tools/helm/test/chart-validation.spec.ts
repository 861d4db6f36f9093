/** Values that contradict each other stop the render with a message naming them. */
import { HelmValue } from '../src/helm.driver';
import { HelmError } from '../src/helm.errors';
import { render } from './chart.harness';

async function failure(values: string[], set: Record<string, HelmValue>): Promise<HelmError> {
  try {
    await render(values, set);
  } catch (e) {
    if (e instanceof HelmError) return e;
    throw e;
  }
  throw new Error('render succeeded');
}

const REDIS = { 'queue.driver': 'redis', 'redis.enabled': true };
const RWX = { 'persistence.accessModes': ['ReadWriteMany'] };

describe('cross-field checks', () => {
  const cases: Array<[string, string[], Record<string, HelmValue>, string]> = [
    [
      'queue-depth autoscaling without redis',
      [],
      { 'autoscaling.enabled': true, 'autoscaling.maxReplicas': 1 },
      'autoscaling.queueDepth: scaling on queue depth needs queue.driver=redis',
    ],
    [
      'KEDA without redis',
      [],
      { 'keda.enabled': true, 'keda.maxReplicas': 1 },
      'keda.enabled: scaling on queue depth needs queue.driver=redis',
    ],
    [
      'two replicas on the embedded queue',
      [],
      { replicaCount: 2, ...RWX },
      'replicas: up to 2 replicas need queue.driver=redis',
    ],
    [
      'two replicas on a ReadWriteOnce volume',
      [],
      { replicaCount: 2, ...REDIS },
      'persistence.accessModes: up to 2 replicas share one volume and need ReadWriteMany',
    ],
    [
      'HPA up to 4 replicas on a ReadWriteOnce volume',
      [],
      { 'autoscaling.enabled': true, ...REDIS },
      'up to 4 replicas share one volume and need ReadWriteMany',
    ],
    [
      'replicas without a volume',
      [],
      { replicaCount: 3, ...REDIS, 'persistence.enabled': false },
      'persistence.enabled: up to 3 replicas need one shared ReadWriteMany volume',
    ],
    [
      'HPA and KEDA together',
      [],
      { 'autoscaling.enabled': true, 'keda.enabled': true, ...REDIS, ...RWX },
      'autoscaling.enabled and keda.enabled: choose one',
    ],
    [
      'HPA with no metric',
      [],
      { 'autoscaling.enabled': true, 'autoscaling.queueDepth.enabled': false, ...REDIS, ...RWX },
      'no metric to scale on',
    ],
    [
      'redis driver without a Redis',
      [],
      { 'queue.driver': 'redis' },
      'queue.driver=redis: set redis.enabled, redis.external.url, redis.external.existingSecret or redis.external.sentinels',
    ],
    [
      'a Redis URL and sentinels',
      [],
      {
        'queue.driver': 'redis',
        'redis.external.url': 'redis://r:6379',
        'redis.external.sentinels': ['s-0:26379'],
        'redis.external.sentinelName': 'mymaster',
      },
      'redis.external: set a URL or sentinels, not both',
    ],
    [
      'sentinels without the name they monitor',
      [],
      { 'queue.driver': 'redis', 'redis.external.sentinels': ['s-0:26379'] },
      'redis.external.sentinelName: required with redis.external.sentinels',
    ],
    [
      'a CA without TLS',
      [],
      {
        'queue.driver': 'redis',
        'redis.external.url': 'redis://r:6379',
        'redis.external.tls.caSecret.name': 'ca',
      },
      'redis.external.tls.caSecret: set, but TLS is off',
    ],
    [
      'WAIT for replicas on the single in-chart Redis',
      [],
      { ...REDIS, 'redis.durability': 'replicas' },
      'redis.durability=replicas: the in-chart Redis has no replicas',
    ],
    [
      'fsync durability with everysec',
      [],
      { ...REDIS, 'redis.durability': 'fsync' },
      'redis.durability=fsync needs redis.appendfsync=always',
    ],
    [
      'in-chart and external Redis',
      [],
      { ...REDIS, 'redis.external.url': 'redis://r:6379' },
      'choose the in-chart Redis or an external one',
    ],
    [
      'Redis on the embedded driver',
      [],
      { 'redis.enabled': true },
      'redis is configured but queue.driver is embedded',
    ],
    [
      'NFS without a server',
      [],
      { ...RWX, 'persistence.nfs.enabled': true },
      'persistence.nfs.enabled: set persistence.nfs.server and persistence.nfs.path',
    ],
    [
      'NFS and an existing claim',
      [],
      {
        'persistence.nfs.enabled': true,
        'persistence.nfs.server': 'n',
        'persistence.nfs.path': '/x',
        'persistence.existingClaim': 'c',
      },
      'use one or the other',
    ],
    [
      'wan without a GPU',
      [],
      { 'config.engine': 'wan' },
      'config.engine=wan needs a GPU: set gpu.enabled=true',
    ],
    [
      'wan without the weights volume',
      [],
      { 'config.engine': 'wan', 'gpu.enabled': true, 'persistence.enabled': false },
      'config.engine=wan loads weights from the volume',
    ],
    [
      'GPU devices without GPUs',
      [],
      { 'config.devices': '0,1' },
      'config.devices=0,1 names GPUs but gpu.enabled is false',
    ],
    [
      'devices that disagree with gpu.count',
      [],
      { 'gpu.enabled': true, 'config.devices': '0,1' },
      'config.devices=0,1 lists 2 devices but gpu.count is 1',
    ],
    [
      'cpu devices with a GPU',
      [],
      { 'gpu.enabled': true, 'config.devices': 'cpu' },
      'config.devices=cpu but gpu.enabled is true',
    ],
    [
      'a nodePort on a ClusterIP',
      [],
      { 'service.nodePort': 31080 },
      'service.nodePort is set but service.type is ClusterIP',
    ],
    [
      'a grace period shorter than the preStop sleep',
      [],
      { terminationGracePeriodSeconds: 10, preStopSleepSeconds: 15 },
      'terminationGracePeriodSeconds must be longer than preStopSleepSeconds + 15 s',
    ],
    [
      'a startup probe shorter than the model-load timeout',
      [],
      { 'startupProbe.failureThreshold': 30 },
      'startupProbe: periodSeconds x failureThreshold (300 s) is shorter than config.workerStartupTimeoutSeconds (840 s)',
    ],
    [
      'an ingress timeout shorter than Prefer: wait',
      [],
      { 'ingress.enabled': true, 'ingress.proxyTimeoutSeconds': 300 },
      'ingress.proxyTimeoutSeconds (300) must be longer than config.maxWaitSeconds',
    ],
    [
      'inline keys and a key Secret',
      [],
      { 'auth.apiKeys': ['aaaaaaaaaaaaaaaa'], 'auth.existingSecret': 's' },
      'auth.apiKeys and auth.existingSecret: choose one',
    ],
    [
      'min above max',
      [],
      {
        'autoscaling.enabled': true,
        'autoscaling.minReplicas': 5,
        'autoscaling.maxReplicas': 2,
        ...REDIS,
        ...RWX,
      },
      'autoscaling.minReplicas must not exceed autoscaling.maxReplicas',
    ],
  ];

  it.each(cases)('%s', async (_title, values, set, message) => {
    const e = await failure(values, set);
    expect(e.exitCode).toBe(1);
    expect(e.stderr).toContain('VALUES VALIDATION');
    expect(e.stderr).toContain(message);
  });

  it('lists every problem at once', async () => {
    const e = await failure([], { replicaCount: 2, 'config.engine': 'wan' });
    expect(e.message).toContain('replicas: up to 2 replicas need queue.driver=redis');
    expect(e.message).toContain('persistence.accessModes');
    expect(e.message).toContain('config.engine=wan needs a GPU');
  });
});

describe('values.schema.json', () => {
  const cases: Array<[string, Record<string, HelmValue>, string]> = [
    ['an unknown key', { 'config.enigne': 'wan' }, "additional properties 'enigne' not allowed"],
    ['an unknown engine', { 'config.engine': 'sdxl' }, "value must be one of 'synthetic', 'wan-tiny', 'wan'"],
    ['an unknown compile mode', { 'config.compile': 'max-autotune' }, "value must be one of 'off', 'blocks'"],
    ['a step cache without threshold', { 'config.stepCache': 'first-block' }, '/config/stepCache'],
    ['a relative model profile path', { 'config.modelProfile': 'profile.json' }, '/config/modelProfile'],
    [
      'a nodePort outside the range',
      { 'service.type': 'NodePort', 'service.nodePort': 8080 },
      '/service/nodePort',
    ],
    ['a string replica count', { replicaCount: '2' }, '/replicaCount'],
    ['a bad device list', { 'config.devices': 'gpu0' }, '/config/devices'],
    ['a short API key', { 'auth.apiKeys': ['short'] }, '/auth/apiKeys/0'],
    [
      'a Redis URL of another scheme',
      { 'queue.driver': 'redis', 'redis.external.url': 'http://r' },
      '/redis/external/url',
    ],
  ];
  it.each(cases)('rejects %s', async (_title, set, message) => {
    const e = await failure([], set);
    expect(e.stderr).toContain("values don't meet the specifications of the schema");
    expect(e.stderr).toContain(message);
  });
});
