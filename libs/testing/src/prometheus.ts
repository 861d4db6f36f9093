/**
 * A real Prometheus server (Debian's `prometheus` package) on loopback for tests: it scrapes the
 * given targets every second, with the labels a ServiceMonitor would give them, and answers PromQL
 * over its HTTP API. Its data lives in a temp directory that `stop()` removes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort } from './redis.js';
import { childStopper } from './stop-child.js';

export const PROMETHEUS = process.env['PROMETHEUS'] ?? '/usr/bin/prometheus';

export interface ScrapeTarget {
  /** `host:port` of a /metrics endpoint. */
  address: string;
  /** Labels of its series: `job` names the job (as the Service name does under a ServiceMonitor). */
  labels: { job: string } & Record<string, string>;
}

export interface PrometheusProcess {
  url: string;
  /** The value of an instant query with one result (a scalar or a one-series vector), or null. */
  value: (promql: string) => Promise<number | null>;
  logs: () => string;
  stop: () => Promise<void>;
}

/** Starts Prometheus scraping `targets` every second; resolves once it is ready. */
export async function startPrometheus(targets: ScrapeTarget[]): Promise<PrometheusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 't2v-prometheus-'));
  const port = await freePort();
  const jobs = [...new Set(targets.map((t) => t.labels.job))];
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    scrape_configs: jobs.map((job) => ({
      job_name: job,
      static_configs: targets
        .filter((t) => t.labels.job === job)
        .map(({ address, labels: { job: _job, ...labels } }) => ({ targets: [address], labels })),
    })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
  let output = '';
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const stopChild = childStopper(child);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
    }
    try {
      if ((await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready in 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const value = async (promql: string): Promise<number | null> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data: { resultType: string; result: unknown };
    };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
    const { resultType, result } = body.data;
    if (resultType === 'scalar') return Number((result as [number, string])[1]);
    const series = result as Array<{ value: [number, string] }>;
    if (series.length === 0) return null;
    if (series.length > 1) throw new Error(`${promql}: ${series.length} series, expected one`);
    return Number(series[0]!.value[1]);
  };
  return { url, value, logs: () => output, stop };
}
