import { HelmError } from '../src/helm.errors';
import { TypeCheckResult, typeCheckManifests } from '../src/manifest-types';
import { K8sObject, validateManifests } from '../src/manifests';
import { CHART_DIR, KUBE_VERSION, NAMESPACE, helm, render, scenarios } from './chart.harness';

const ALL = scenarios();

describe('chart scenarios', () => {
  it('has the scenarios the chart promises', () => {
    expect(ALL).toEqual(
      expect.arrayContaining([
        'ci/default-values.yaml',
        'ci/t4-nfs-nodeport-values.yaml',
        'ci/production-values.yaml',
        'ci/keda-values.yaml',
        'environments/dev.yaml',
        'environments/staging.yaml',
        'environments/prod.yaml',
      ]),
    );
  });

  describe.each(ALL)('%s', (scenario) => {
    let objects: K8sObject[];

    beforeAll(async () => {
      objects = await render([scenario]);
    });

    it('passes helm lint --strict', async () => {
      await expect(
        helm.lint(CHART_DIR, {
          strict: true,
          namespace: NAMESPACE,
          kubeVersion: KUBE_VERSION,
          values: [`${CHART_DIR}/${scenario}`],
        }),
      ).resolves.toBeDefined();
    });

    it('renders objects that match their Kubernetes schemas', async () => {
      expect(objects.length).toBeGreaterThan(5);
      const results = await validateManifests(objects);
      const failures = results.filter((r) => r.error !== null).map((r) => `${r.kind}/${r.name}: ${r.error}`);
      expect(failures).toEqual([]);
    });

    it('names every object validly and places namespaced ones in the release namespace', () => {
      for (const o of objects) {
        expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
        expect(o.metadata.name.length).toBeLessThanOrEqual(63);
        if (o.kind === 'PersistentVolume') expect(o.metadata.namespace).toBeUndefined();
        else if (!(o.kind === 'ConfigMap' && o.metadata.labels?.['grafana_dashboard']))
          expect(o.metadata.namespace).toBe(NAMESPACE);
        expect(o.metadata.labels?.['app.kubernetes.io/instance']).toBe('t2v');
      }
      const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(keys).size).toBe(keys.length);
    });
  });

  describe('fields (TypeScript declarations of the models: unknown fields fail)', () => {
    const byScenario = new Map<string, TypeCheckResult[]>();

    beforeAll(async () => {
      const rendered = await Promise.all(ALL.map(async (s) => [s, await render([s])] as const));
      // one compiler run for every scenario: loading the model declarations is the slow part
      const all = rendered.flatMap(([, objects]) => objects);
      const results = typeCheckManifests(all);
      let at = 0;
      for (const [s, objects] of rendered) {
        byScenario.set(s, results.slice(at, at + objects.length));
        at += objects.length;
      }
    }, 60_000);

    it.each(ALL)('%s', (scenario) => {
      const failures = byScenario
        .get(scenario)!
        .filter((r) => r.errors.length > 0)
        .map((r) => `${r.kind}/${r.name}: ${r.errors.join('; ')}`);
      expect(failures).toEqual([]);
    });
  });

  it('lints the chart with its defaults and no values file', async () => {
    await expect(helm.lint(CHART_DIR, { strict: true, kubeVersion: KUBE_VERSION })).resolves.toBeDefined();
  });

  it('refuses Kubernetes older than 1.25', async () => {
    await expect(helm.template('t2v', CHART_DIR, { kubeVersion: '1.24.0' })).rejects.toThrow(HelmError);
  });
});
