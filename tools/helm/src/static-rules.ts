import { stringify } from 'yaml';

import { HelmDriver } from './helm.driver';
import { K8sObject, one, parseManifests } from './manifests';

/** Job name the static prometheus.yml gives the t2v targets (docs/monitoring/prometheus.yml). */
export const STATIC_JOB = 't2v';

export const STATIC_RULES_HEADER =
  '# Generated from the PrometheusRule of charts/t2v by `npx nx run helm-tools:generate`; do not edit.\n' +
  '# For a Prometheus without the operator; it selects the targets by job="t2v".\n';

/**
 * The chart's alert rules as a plain Prometheus rule file: rendered with the Service named
 * like the static job, and the namespace matcher removed (static targets carry none).
 */
export async function renderStaticRules(helm: HelmDriver, chartDir: string): Promise<string> {
  const out = await helm.template('t2v', chartDir, {
    namespace: 'static',
    set: { 'prometheusRule.enabled': true, fullnameOverride: STATIC_JOB },
  });
  const rule = one(parseManifests(out.stdout), 'PrometheusRule') as K8sObject & {
    spec: { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> };
  };
  const groups = rule.spec.groups.map((g) => ({
    name: g.name,
    rules: g.rules.map((r) => ({
      ...r,
      expr: String(r['expr']).replace(/,namespace="static"/g, ''),
      annotations: Object.fromEntries(
        Object.entries((r['annotations'] ?? {}) as Record<string, string>).map(([k, v]) => [
          k,
          v.replace(/ of t2v\b/g, ''),
        ]),
      ),
    })),
  }));
  return STATIC_RULES_HEADER + stringify({ groups }, { lineWidth: 0 });
}
