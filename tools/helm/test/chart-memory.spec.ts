/**
 * The API container's memory limit: derived from the engine and the worker count (one worker per
 * GPU), and a limit below what the model needs stops the render naming the value. Figures:
 * docs/benchmarks.md ("Host memory while the wan engine loads").
 */
import { K8sObject, one } from '../src/manifests';
import { HelmValue } from '../src/helm.driver';
import { HelmError } from '../src/helm.errors';
import { Any, render } from './chart.harness';

const T4 = 'ci/t4-nfs-nodeport-values.yaml';
const WAN = {
  'config.engine': 'wan',
  'gpu.enabled': true,
  'config.cpuOffload': 'none',
  'persistence.enabled': true,
  'persistence.models.enabled': true,
};

const limits = (objects: K8sObject[]): Record<string, unknown> =>
  (one(objects, 'Deployment', 't2v') as Any).spec.template.spec.containers.find((c: Any) => c.name === 'api')
    .resources.limits;

async function failure(values: string[], set: Record<string, HelmValue>): Promise<string> {
  try {
    await render(values, set);
  } catch (e) {
    if (e instanceof HelmError) return e.message;
    throw e;
  }
  throw new Error('render succeeded');
}

describe('the API container memory limit', () => {
  it.each<[string, Record<string, HelmValue>, string]>([
    // 1Gi for the API + 8Gi per wan worker: the weights go straight to the GPU.
    ['wan on 1 GPU', { ...WAN, 'gpu.count': 1 }, '9Gi'],
    // Every GPU is a worker (or a rank of a group) and they load at the same time.
    ['wan on 4 GPUs', { ...WAN, 'gpu.count': 4 }, '33Gi'],
    ['wan, a cfg group on 2 GPUs', { ...WAN, 'gpu.count': 2, 'config.parallel': 'cfg' }, '17Gi'],
    // With model offload the whole model (24.2 GB) lives in host memory.
    ['wan with model offload', { ...WAN, 'config.cpuOffload': 'model' }, '31Gi'],
    ['wan-tiny on the CPU', { 'config.engine': 'wan-tiny' }, '4Gi'],
    ['an operator figure per worker', { ...WAN, 'gpu.count': 2, workerHostMemory: '12Gi' }, '25Gi'],
  ])('is derived for %s', async (_name, set, expected) => {
    expect(limits(await render([], set))['memory']).toBe(expected);
  });

  it('is never below the request (the synthetic engine needs little)', async () => {
    expect(limits(await render([]))['memory']).toBe('4Gi');
    const small = await render([], { 'resources.requests.memory': '512Mi' });
    expect(limits(small)['memory']).toBe('1280Mi');
  });

  it('keeps a limit that covers the need', async () => {
    expect(limits(await render([T4]))['memory']).toBe('32Gi');
    const objects = await render([T4], { ...WAN, 'gpu.count': 2, 'resources.limits.memory': '20Gi' });
    expect(limits(objects)).toMatchObject({ memory: '20Gi', 'nvidia.com/gpu': 2 });
  });

  it('refuses a limit below what the model needs, naming the value and the need', async () => {
    expect(await failure([T4], { ...WAN, 'gpu.count': 2, 'resources.limits.memory': '16Gi' })).toContain(
      'resources.limits.memory=16Gi is below the 17Gi that config.engine=wan needs with 2 worker processes ' +
        '(1Gi for the API + 8Gi each; docs/benchmarks.md)',
    );
    expect(await failure([T4], { 'resources.limits.memory': '24Gi' })).toContain(
      'resources.limits.memory=24Gi is below the 31Gi that config.engine=wan needs with 1 worker process ' +
        '(1Gi for the API + 30Gi each, config.cpuOffload=model keeps the model in host memory',
    );
    // Quantities in other units are compared by value: 17000Mi < 17Gi (17408Mi).
    expect(await failure([T4], { ...WAN, 'gpu.count': 2, 'resources.limits.memory': '17000Mi' })).toContain(
      'resources.limits.memory=17000Mi is below the 17Gi',
    );
    expect(await failure([T4], { ...WAN, 'gpu.count': 2, 'resources.limits.memory': '18G' })).toBeDefined();
  });
});
