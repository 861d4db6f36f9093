/** Every PromQL expression the chart and the monitoring docs ship, with where it comes from. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { parse } from 'yaml';

import { K8sObject, one } from '../src/manifests';
import { expandGrafanaVariables } from '../src/promql';
import { Any, CHART_DIR, REPO_ROOT } from './chart.harness';

export interface Query {
  source: string;
  expr: string;
}

export function dashboardFiles(): string[] {
  return readdirSync(path.join(CHART_DIR, 'dashboards'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(CHART_DIR, 'dashboards', f));
}

export function dashboardQueries(): Query[] {
  const out: Query[] = [];
  for (const file of dashboardFiles()) {
    const dash = JSON.parse(readFileSync(file, 'utf8')) as Any;
    const panels: Any[] = (dash.panels as Any[]).flatMap((p: Any) => [p, ...(p.panels ?? [])]);
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        out.push({
          source: `${path.basename(file)} / ${p.title} / ${t.refId}`,
          expr: expandGrafanaVariables(t.expr),
        });
      }
    }
    for (const v of dash.templating.list as Any[]) {
      if (v.type !== 'query') continue;
      const q = typeof v.query === 'string' ? v.query : v.query.query;
      const m = /^label_values\(([^,]+),/.exec(q);
      if (m) out.push({ source: `${path.basename(file)} / variable ${v.name}`, expr: m[1]!.trim() });
    }
  }
  return out;
}

export function ruleQueries(objects: K8sObject[]): Query[] {
  const rule = one(objects, 'PrometheusRule') as Any;
  return rule.spec.groups.flatMap((g: Any) =>
    g.rules.map((r: Any) => ({ source: `alert ${r.alert}`, expr: r.expr })),
  );
}

export function staticRuleQueries(): Query[] {
  const doc = parse(readFileSync(path.join(REPO_ROOT, 'docs/monitoring/t2v-alerts.yml'), 'utf8')) as Any;
  return doc.groups.flatMap((g: Any) =>
    g.rules.map((r: Any) => ({ source: `static alert ${r.alert}`, expr: r.expr })),
  );
}

export function kedaQueries(objects: K8sObject[]): Query[] {
  const so = one(objects, 'ScaledObject') as Any;
  return so.spec.triggers.map((t: Any) => ({ source: 'KEDA trigger', expr: t.metadata.query }));
}

export function adapterQueries(): Query[] {
  const doc = parse(
    readFileSync(path.join(REPO_ROOT, 'docs/monitoring/prometheus-adapter-values.yaml'), 'utf8'),
  ) as Any;
  return doc.rules.custom.map((r: Any) => ({
    source: 'prometheus-adapter seriesQuery',
    expr: r.seriesQuery,
  }));
}
