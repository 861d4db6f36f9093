import { typeCheckManifests } from './manifest-types';
import { K8sObject } from './manifests';

const service = (spec: Record<string, unknown>): K8sObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 's' },
  spec,
});

describe('typeCheckManifests', () => {
  it('accepts valid objects of core, prometheus-operator and KEDA kinds', () => {
    const results = typeCheckManifests([
      service({ ports: [{ port: 80, targetPort: 'http' }] }),
      {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: 'm' },
        spec: { selector: {}, endpoints: [{ port: 'http' }] },
      },
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'k' },
        spec: {
          scaleTargetRef: { name: 'd' },
          triggers: [{ type: 'prometheus', metadata: { query: 'up' } }],
        },
      },
    ]);
    expect(results.map((r) => r.errors)).toEqual([[], [], []]);
  });

  it('reports unknown and mistyped fields of the object they belong to', () => {
    const results = typeCheckManifests([
      service({ ports: [{ port: 80 }] }),
      service({ ports: [{ port: 80, targetPrt: 'http' }] }),
      service({ ports: [{ port: true }] }),
    ]);
    expect(results[0]!.errors).toEqual([]);
    expect(results[1]!.errors.join()).toMatch(/'"?targetPrt"?' does not exist/);
    expect(results[2]!.errors.join()).toMatch(/boolean/);
  });

  it('fails loudly for a kind without declarations', () => {
    expect(() =>
      typeCheckManifests([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }]),
    ).toThrow(/cannot load the model types/);
  });
});
