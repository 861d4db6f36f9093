/**
 * The chart against a running API: the API accepts the chart's ConfigMap as its environment,
 * becomes ready on the probe paths, and its /metrics declares every metric that the alerts,
 * dashboards, KEDA trigger and adapter rule query. Needs `npx nx run api:build` first
 * (the Nx test target depends on it).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { K8sObject, one } from '../src/manifests';
import { exposedMetricNames, metricNames } from '../src/promql';
import { Any, REPO_ROOT, render } from './chart.harness';
import { EXPORTED_METRICS } from './exported-metrics';
import { adapterQueries, dashboardQueries, kedaQueries, ruleQueries } from './queries.harness';

const MAIN = path.join(REPO_ROOT, 'dist/apps/api/main.js');
const STARTUP_MS = 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitFor(
  url: string,
  ok: (status: number) => boolean,
  deadline: number,
  proc: ChildProcess,
): Promise<Response> {
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`API exited with code ${proc.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (ok(res.status)) return res;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url}: ${last} after ${STARTUP_MS} ms`);
}

describe('running API', () => {
  let proc: ChildProcess;
  let base: string;
  let tmp: string;
  let output = '';
  let configMap: Record<string, string>;
  let prod: K8sObject[];
  let keda: K8sObject[];

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npx nx run api:build first`);
    [prod, keda] = await Promise.all([
      render(['ci/production-values.yaml']),
      render(['ci/keda-values.yaml']),
    ]);
    const defaults = await render(['ci/default-values.yaml']);
    configMap = (one(defaults, 'ConfigMap', 't2v') as Any).data;
    tmp = mkdtempSync(path.join(tmpdir(), 't2v-api-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    proc = spawn(process.execPath, [MAIN], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        // the chart's configuration, with the pod's paths and address replaced by local ones
        ...configMap,
        PORT: String(port),
        HOST: '127.0.0.1',
        T2V_DATA_DIR: path.join(tmp, 'state'),
        T2V_STORAGE_DIR: path.join(tmp, 'videos'),
        HOME: tmp,
        XDG_CACHE_HOME: path.join(tmp, '.cache'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(`${base}/healthz`, (s) => s === 200, Date.now() + STARTUP_MS, proc).catch((e: Error) => {
      throw new Error(`${e.message}\n--- API output ---\n${output.slice(-4000)}`);
    });
  }, STARTUP_MS + 30_000);

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it(
    'accepts the chart configuration and becomes ready on the probe path',
    async () => {
      const res = await waitFor(`${base}/readyz`, (s) => s === 200, Date.now() + STARTUP_MS, proc);
      expect(res.status).toBe(200);
    },
    STARTUP_MS + 5_000,
  );

  it('declares every metric the chart and the monitoring docs query', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const exposed = exposedMetricNames(await res.text());
    for (const name of Object.keys(EXPORTED_METRICS)) expect(exposed).toContain(name);
    const queried = [
      ...dashboardQueries(),
      ...ruleQueries(prod),
      ...kedaQueries(keda),
      ...adapterQueries(),
    ].flatMap((q) => metricNames(q.expr).map((n) => ({ source: q.source, name: n })));
    expect(queried.length).toBeGreaterThan(20);
    expect(queried.filter((q) => !exposed.has(q.name)).map((q) => `${q.source}: ${q.name}`)).toEqual([]);
  });

  it('stops within the grace period on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const started = Date.now();
    proc.kill('SIGTERM');
    const code = await exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(Number(configMap['T2V_SHUTDOWN_GRACE_S']) * 1000);
  }, 30_000);
});
