/** Shared by the chart suites: where the chart is, and one way to render it. */
import { readdirSync } from 'node:fs';
import path from 'node:path';

import { HelmDriver, HelmValue } from '../src/helm.driver';
import { K8sObject, parseManifests } from '../src/manifests';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const CHART_DIR = path.join(REPO_ROOT, 'charts/t2v');
export const RELEASE = 't2v';
export const NAMESPACE = 't2v';
/** Oldest Kubernetes the chart supports in practice (Chart.yaml says >=1.25). */
export const KUBE_VERSION = '1.30.0';

export const helm = new HelmDriver({ cwd: REPO_ROOT, processTimeoutMs: 60_000 });

/** `ci/*-values.yaml` scenarios and `environments/*.yaml`, as paths relative to the chart. */
export function scenarios(): string[] {
  const ci = readdirSync(path.join(CHART_DIR, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .map((f) => `ci/${f}`);
  const envs = readdirSync(path.join(CHART_DIR, 'environments'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `environments/${f}`);
  return [...ci.sort(), ...envs.sort()];
}

export async function renderText(
  values: readonly string[] = [],
  set: Record<string, HelmValue> = {},
): Promise<string> {
  const out = await helm.template(RELEASE, CHART_DIR, {
    namespace: NAMESPACE,
    kubeVersion: KUBE_VERSION,
    values: values.map((v) => path.join(CHART_DIR, v)),
    set,
  });
  return out.stdout;
}

export async function render(
  values: readonly string[] = [],
  set: Record<string, HelmValue> = {},
): Promise<K8sObject[]> {
  return parseManifests(await renderText(values, set));
}

export const fullname = `${RELEASE}`; // release name contains the chart name, so the prefix is the release name

/** Loosely typed access for assertions on rendered objects. */
export type Any = any;
