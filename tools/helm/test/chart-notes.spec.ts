/**
 * NOTES.txt. `helm template` does not render it and `helm install --dry-run` needs a cluster, so
 * a copy of the chart gets one extra template that renders NOTES.txt (with `tpl`) into a ConfigMap.
 */
import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { HelmValue } from '../src/helm.driver';
import { parseManifests } from '../src/manifests';
import { CHART_DIR, KUBE_VERSION, NAMESPACE, helm } from './chart.harness';

let tmp: string;
let chart: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 't2v-notes-'));
  chart = path.join(tmp, 't2v');
  cpSync(CHART_DIR, chart, { recursive: true });
  copyFileSync(path.join(chart, 'templates/NOTES.txt'), path.join(chart, 'notes-source.txt'));
  writeFileSync(
    path.join(chart, 'templates/notes-rendered.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "notes-source.txt") . | toJson }}\n',
  );
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function notes(values: string[], set: Record<string, HelmValue> = {}): Promise<string> {
  const out = await helm.template('t2v', chart, {
    namespace: NAMESPACE,
    kubeVersion: KUBE_VERSION,
    values: values.map((v) => path.join(chart, v)),
    set,
    showOnly: ['templates/notes-rendered.yaml'],
  });
  return (parseManifests(out.stdout)[0] as unknown as { data: { notes: string } }).data.notes;
}

describe('NOTES.txt', () => {
  it('tells how to wait for the rollout and reach a ClusterIP service', async () => {
    const text = await notes(['ci/default-values.yaml']);
    expect(text).toContain('kubectl -n t2v rollout status deployment/t2v --timeout=20m');
    expect(text).toContain('kubectl -n t2v port-forward svc/t2v 8080:80');
    expect(text).toContain('Engine: synthetic, devices: cpu, queue: embedded.');
    expect(text).toContain('WARNING: no API keys are set');
  });

  it('with topology=split, waits for the API tier and points at the GPU tier that follows the queue', async () => {
    const text = await notes(['ci/split-values.yaml']);
    expect(text).toContain('kubectl -n t2v rollout status deployment/t2v --timeout=5m');
    expect(text).toContain('kubectl -n t2v get deployment/t2v-gpu --watch');
    expect(text).toContain('has no pod until a job is queued');
    expect(text).toContain('"queue_reason": "gpu_capacity"');
    expect(text).toContain('kubectl -n t2v get scaledobject t2v-gpu');
  });

  it('gives the NodePort address and the weights location for the T4 cluster', async () => {
    const text = await notes(['ci/t4-nfs-nodeport-values.yaml']);
    expect(text).toContain("get svc t2v -o jsonpath='{.spec.ports[0].nodePort}'");
    expect(text).toContain(
      'Model weights are read from the "models" directory of the volume (/models/Wan2.2-TI2V-5B-Diffusers in the pod).',
    );
    expect(text).toContain('kubectl -n t2v get hpa t2v');
  });

  it('gives the HTTPS URL, the API key header and the custom metric check in production', async () => {
    const text = await notes(['ci/production-values.yaml']);
    expect(text).toContain('export T2V_URL=https://t2v.example.com');
    expect(text).toContain('-H "Authorization: Bearer $T2V_API_KEY"');
    expect(text).toContain('/apis/custom.metrics.k8s.io/v1beta1/namespaces/t2v/services/t2v/t2v_queue_depth');
    expect(text).not.toContain('WARNING');
  });

  it('points at the ScaledObject with KEDA', async () => {
    expect(await notes(['ci/keda-values.yaml'])).toContain('kubectl -n t2v get scaledobject t2v');
  });
});
