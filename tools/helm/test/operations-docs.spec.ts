/**
 * docs/operations: every alert the chart ships has a runbook (what it means, how to confirm, what
 * to do) and can link it; every metric the alerts and dashboards query is in the generated metrics
 * reference, which is checked for drift against the API's build.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { one } from '../src/manifests';
import { metricNames } from '../src/promql';
import { Any, REPO_ROOT, render } from './chart.harness';
import { dashboardQueries, ruleQueries } from './queries.harness';

const run = promisify(execFile);
const RUNBOOKS = readFileSync(path.join(REPO_ROOT, 'docs/operations/runbooks.md'), 'utf8');
const METRICS = readFileSync(path.join(REPO_ROOT, 'docs/operations/metrics.md'), 'utf8');

/** The runbook sections: `## Name` → its text up to the next `## `. */
function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of markdown.split(/^## /m).slice(1)) {
    const [title, ...body] = part.split('\n');
    out.set(title!.trim(), body.join('\n'));
  }
  return out;
}

let alerts: Any[];
beforeAll(async () => {
  const rule = one(await render([], { 'prometheusRule.enabled': true }), 'PrometheusRule') as Any;
  alerts = rule.spec.groups.flatMap((g: Any) => g.rules);
});

describe('runbooks', () => {
  it('has a section per alert, each saying what it means, how to confirm it and what to do', () => {
    const runbooks = sections(RUNBOOKS);
    expect(alerts.length).toBeGreaterThanOrEqual(6);
    for (const a of alerts) {
      const body = runbooks.get(a.alert);
      expect({ alert: a.alert, found: body !== undefined }).toEqual({ alert: a.alert, found: true });
      for (const part of ['**What it means.**', '**How to confirm.**', '**What to do.**'])
        expect({ alert: a.alert, part, present: body!.includes(part) }).toEqual({
          alert: a.alert,
          part,
          present: true,
        });
    }
    // No runbook for an alert that no longer exists.
    expect([...runbooks.keys()].sort()).toEqual(alerts.map((a) => a.alert).sort());
  });

  it('links each alert to its section when prometheusRule.runbookBaseUrl is set, and not otherwise', async () => {
    const base = 'https://git.example.test/t2v/blob/main/docs/operations/runbooks.md';
    const objects = await render([], {
      'prometheusRule.enabled': true,
      'prometheusRule.runbookBaseUrl': base,
    });
    const linked = (one(objects, 'PrometheusRule') as Any).spec.groups.flatMap((g: Any) => g.rules);
    for (const a of linked) expect(a.annotations.runbook_url).toBe(`${base}#${a.alert.toLowerCase()}`);
    for (const a of alerts) expect(a.annotations.runbook_url).toBeUndefined();
  });
});

describe('metrics reference', () => {
  it('is up to date with the metrics the API declares', async () => {
    const { stdout } = await run(process.execPath, [
      path.join(REPO_ROOT, 'apps/api/scripts/metrics-reference.mjs'),
      path.join(REPO_ROOT, 'docs/operations/metrics.md'),
      '--check',
    ]);
    expect(stdout).toMatch(/matches the API's metrics/);
  });

  it('documents every metric an alert or a dashboard queries', async () => {
    const prod = await render(['ci/production-values.yaml']);
    const queried = new Set(
      [...ruleQueries(prod), ...dashboardQueries()]
        .flatMap((q) => metricNames(q.expr))
        .map((n) => n.replace(/_(bucket|sum|count)$/, '')),
    );
    expect([...queried].filter((m) => !METRICS.includes(`\`${m}\``))).toEqual([]);
  });
});
