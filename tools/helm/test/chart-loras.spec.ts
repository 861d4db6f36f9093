/** LoRA adapters in the chart: `config.loras` becomes T2V_LORAS under the read-only model mount. */
import { K8sObject, one } from '../src/manifests';
import { HelmValue } from '../src/helm.driver';
import { HelmError } from '../src/helm.errors';
import { Any, render } from './chart.harness';

const T4 = 'ci/t4-nfs-nodeport-values.yaml';
const LORAS = [
  { name: 'style', path: 'loras/style.safetensors' },
  { name: 'motion.v2', path: 'loras/motion-v2' },
];

const config = (objects: K8sObject[]): Record<string, string> =>
  (one(objects, 'ConfigMap', 't2v') as Any).data;

async function failure(values: string[], set: Record<string, HelmValue>): Promise<HelmError> {
  try {
    await render(values, set);
  } catch (e) {
    if (e instanceof HelmError) return e;
    throw e;
  }
  throw new Error('render succeeded');
}

describe('config.loras', () => {
  it('sets T2V_LORAS to absolute paths under the model mount, and nothing when there are none', async () => {
    expect(config(await render([T4]))).not.toHaveProperty('T2V_LORAS');
    const objects = await render([T4], { 'config.loras': LORAS });
    expect(config(objects)['T2V_LORAS']).toBe(
      'style=/models/loras/style.safetensors,motion.v2=/models/loras/motion-v2',
    );
    const mounted = await render([T4], {
      'config.loras': LORAS.slice(0, 1),
      'persistence.models.mountPath': '/weights/',
    });
    expect(config(mounted)['T2V_LORAS']).toBe('style=/weights/loras/style.safetensors');
    // The adapters are on the model volume, which the API container mounts read-only.
    const pod = (one(mounted, 'Deployment', 't2v') as Any).spec.template.spec;
    const api = pod.containers.find((c: Any) => c.name === 'api');
    expect(api.volumeMounts).toContainEqual({
      name: 'data',
      mountPath: '/weights/',
      subPath: 'models',
      readOnly: true,
    });
  });

  it.each<[string, string[], Record<string, HelmValue>, string]>([
    [
      'without the model volume',
      [],
      { 'config.loras': LORAS },
      'config.loras: adapters are read from the model volume; set config.engine=wan',
    ],
    [
      'with compiled blocks',
      [T4],
      { 'config.loras': LORAS, 'config.compile': 'blocks' },
      'config.loras cannot be combined with config.compile=blocks',
    ],
    [
      'with a name given twice',
      [T4],
      { 'config.loras': [...LORAS, { name: 'style', path: 'loras/other.safetensors' }] },
      'config.loras: the name style is given twice',
    ],
  ])('refuses adapters %s', async (_title, values, set, message) => {
    const e = await failure(values, set);
    expect(e.message).toContain('VALUES VALIDATION');
    expect(e.message).toContain(message);
  });

  it.each<[string, HelmValue]>([
    ['an absolute path', [{ name: 'x', path: '/models/loras/x.safetensors' }]],
    ['a path leaving the mount', [{ name: 'x', path: 'loras/../../etc/x.safetensors' }]],
    ['a comma in the path', [{ name: 'x', path: 'loras/a,b.safetensors' }]],
    ['a name with a space', [{ name: 'my style', path: 'loras/x.safetensors' }]],
    ['a missing path', [{ name: 'x' }]],
    ['an unknown key', [{ name: 'x', path: 'loras/x.safetensors', scale: 1 }]],
  ])('the schema rejects %s', async (_title, loras) => {
    const e = await failure([T4], { 'config.loras': loras });
    expect(e.stderr).toContain("values don't meet the specifications of the schema");
    expect(e.stderr).toContain('/config/loras/0');
  });
});
