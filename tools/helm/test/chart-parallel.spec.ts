/** One job across several GPUs (config.parallel → T2V_PARALLEL): the pod asks for whole groups. */
import { K8sObject, one } from '../src/manifests';
import { HelmValue } from '../src/helm.driver';
import { HelmError } from '../src/helm.errors';
import { Any, render } from './chart.harness';

const api = (objects: K8sObject[]): Any =>
  (one(objects, 'Deployment', 't2v') as Any).spec.template.spec.containers.find((c: Any) => c.name === 'api');
const config = (objects: K8sObject[]): Record<string, string> =>
  (one(objects, 'ConfigMap', 't2v') as Any).data;

const WAN_GPU = { 'config.engine': 'wan', 'gpu.enabled': true };

async function failure(set: Record<string, HelmValue>): Promise<string> {
  try {
    await render(['ci/default-values.yaml'], set);
  } catch (e) {
    if (e instanceof HelmError) return e.message;
    throw e;
  }
  throw new Error('render succeeded');
}

describe('config.parallel', () => {
  it('is off by default', async () => {
    expect(config(await render(['ci/default-values.yaml']))['T2V_PARALLEL']).toBe('off');
  });

  it.each([
    ['cfg', 2, '0,1'],
    ['ulysses:2', 4, '0,1,2,3'],
    ['cfg+ulysses:2', 4, '0,1,2,3'],
  ])('%s on %d GPUs: the pod requests them all and the API groups them', async (parallel, count, devices) => {
    const objects = await render(['ci/default-values.yaml'], {
      ...WAN_GPU,
      'config.parallel': parallel,
      'gpu.count': count,
    });
    expect(api(objects).resources.limits['nvidia.com/gpu']).toBe(count);
    expect(config(objects)).toMatchObject({ T2V_PARALLEL: parallel, T2V_DEVICES: devices });
  });

  it('refuses a GPU count that does not form whole groups, naming the fix', async () => {
    expect(await failure({ ...WAN_GPU, 'config.parallel': 'cfg' })).toContain(
      'gpu.count=1: config.parallel=cfg runs each job on 2 GPUs; set gpu.count to a multiple of 2',
    );
    expect(await failure({ ...WAN_GPU, 'config.parallel': 'cfg+ulysses:2', 'gpu.count': 6 })).toContain(
      'set gpu.count to a multiple of 4',
    );
  });

  it('refuses it for the synthetic engine and forms the API does not know', async () => {
    expect(await failure({ 'config.parallel': 'cfg' })).toContain(
      'config.parallel=cfg: applies to the wan and wan-tiny engines only',
    );
    expect(await failure({ 'config.parallel': 'ulysses:1' })).toMatch(/parallel.*(pattern|does not match)/);
  });
});
