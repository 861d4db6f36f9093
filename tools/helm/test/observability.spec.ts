/** Alerts and dashboards: valid PromQL (promtool), only metrics the API exports, docs in sync. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { stringify } from 'yaml';

import { K8sObject, one } from '../src/manifests';
import { metricNames } from '../src/promql';
import { Any, REPO_ROOT, render } from './chart.harness';
import { exportedSeriesNames } from './exported-metrics';
import { runGenerator } from './generators.harness';
import {
  Query,
  adapterQueries,
  dashboardFiles,
  dashboardQueries,
  kedaQueries,
  ruleQueries,
  staticRuleQueries,
} from './queries.harness';

const run = promisify(execFile);
const PROMTOOL = 'promtool'; // Debian/Ubuntu package "prometheus"

let tmp: string;
let prod: K8sObject[];
let keda: K8sObject[];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 't2v-rules-'));
  [prod, keda] = await Promise.all([render(['ci/production-values.yaml']), render(['ci/keda-values.yaml'])]);
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(PROMTOOL, args);
    return stdout;
  } catch (e) {
    const err = e as { code?: string | number; stdout?: string; stderr?: string };
    if (err.code === 'ENOENT')
      throw new Error('promtool not found: apt-get install prometheus (it ships promtool)');
    throw new Error(`promtool ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

async function checkRules(name: string, groups: unknown): Promise<string> {
  const file = path.join(tmp, `${name}.yml`);
  writeFileSync(file, stringify({ groups }));
  return promtool('check', 'rules', file);
}

function allQueries(): Query[] {
  return [
    ...dashboardQueries(),
    ...ruleQueries(prod),
    ...staticRuleQueries(),
    ...kedaQueries(keda),
    ...adapterQueries(),
  ];
}

describe('PrometheusRule', () => {
  it.each(['ci/production-values.yaml', 'ci/keda-values.yaml', 'environments/prod.yaml'])(
    'passes promtool check rules (%s)',
    async (scenario) => {
      const rule = one(await render([scenario]), 'PrometheusRule') as Any;
      const out = await checkRules(path.basename(scenario, '.yaml'), rule.spec.groups);
      expect(out).toContain('SUCCESS: 6 rules found');
    },
  );

  it('selects only this release', () => {
    for (const q of ruleQueries(prod)) {
      for (const matcher of q.expr.match(/\{[^}]*\}/g) ?? []) {
        expect(matcher).toContain('job="t2v",namespace="t2v"');
      }
    }
  });
});

describe('every shipped query', () => {
  it('parses (promtool, as recording rules)', async () => {
    const rules = allQueries().map((q, i) => ({ record: `t2v_check:query_${i}`, expr: q.expr }));
    const out = await checkRules('queries', [{ name: 'shipped-queries', rules }]);
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('names only metrics the API exports', () => {
    const exported = exportedSeriesNames();
    const unknown = allQueries().flatMap((q) =>
      metricNames(q.expr)
        .filter((n) => !exported.has(n))
        .map((n) => `${q.source}: ${n}`),
    );
    expect(unknown).toEqual([]);
  });

  it('covers queue depth, throughput, latency per phase, workers, GPU memory and errors', () => {
    const used = new Set(dashboardQueries().flatMap((q) => metricNames(q.expr)));
    for (const m of [
      't2v_queue_depth',
      't2v_jobs_in_progress',
      't2v_jobs_submitted_total',
      't2v_jobs_finished_total',
      't2v_job_queue_wait_seconds_bucket',
      't2v_job_inference_seconds_bucket',
      't2v_job_encode_seconds_bucket',
      't2v_http_request_duration_seconds_bucket',
      't2v_http_request_duration_seconds_count',
      't2v_worker_state',
      't2v_worker_restarts_total',
      't2v_model_load_seconds',
      't2v_gpu_memory_used_bytes',
      't2v_gpu_memory_total_bytes',
    ]) {
      expect(used).toContain(m);
    }
  });
});

describe('dashboards', () => {
  it.each(dashboardFiles().map((f) => [path.basename(f), f]))(
    '%s is pretty-printed JSON with a data source variable',
    (_n, file) => {
      const text = readFileSync(file, 'utf8');
      const dash = JSON.parse(text) as Any;
      expect(text.split('\n').length).toBeGreaterThan(100);
      expect(text).toMatch(/^\{\n {2}"/);
      expect(dash.uid).toMatch(/^t2v-/);
      expect(dash.templating.list.map((v: Any) => v.name)).toEqual(
        expect.arrayContaining(['datasource', 'job']),
      );
      const ids = (dash.panels as Any[]).map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of dash.panels as Any[]) {
        if (p.type !== 'row') expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
    },
  );

  it('have distinct uids', () => {
    const uids = dashboardFiles().map((f) => (JSON.parse(readFileSync(f, 'utf8')) as Any).uid);
    expect(new Set(uids).size).toBe(uids.length);
  });
});

describe('monitoring without the operator (docs/monitoring)', () => {
  it('prometheus.yml and its rule file pass promtool check config', async () => {
    const out = await promtool('check', 'config', path.join(REPO_ROOT, 'docs/monitoring/prometheus.yml'));
    expect(out).toContain('SUCCESS: 6 rules found');
  });

  it('t2v-alerts.yml is the chart PrometheusRule, regenerated', async () => {
    const r = await runGenerator('generate-static-rules.ts', [
      'charts/t2v',
      'docs/monitoring/t2v-alerts.yml',
      '--check',
    ]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('the adapter serves the metric the HPA asks for', () => {
    const hpa = one(prod, 'HorizontalPodAutoscaler') as Any;
    const metric = hpa.spec.metrics.find((m: Any) => m.type === 'Object').object.metric.name;
    const adapter = readFileSync(
      path.join(REPO_ROOT, 'docs/monitoring/prometheus-adapter-values.yaml'),
      'utf8',
    );
    expect(adapter).toContain(`as: ${metric}`);
    expect(adapter).toMatch(/service: \{ resource: service \}/);
  });
});
