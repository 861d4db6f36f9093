import type { T2V, UsageReport, UsageRow } from '@t2v/sdk';

import { table } from '../format.js';
import type { CliIO, GlobalOptions } from '../io.js';

/** Options of `t2v usage`. */
export interface UsageOptions {
  start?: string;
  end?: string;
  groupBy?: string;
  csv?: boolean;
}

const COLUMNS = ['completed', 'failed', 'cancelled', 'jobs', 'output_s', 'frames', 'gpu_s'];

function figures(r: UsageRow): string[] {
  return [
    r.jobs.completed,
    r.jobs.failed,
    r.jobs.cancelled,
    r.jobs.total,
    r.output_seconds,
    r.frames,
    r.gpu_seconds,
  ].map(String);
}

/** A CSV field: quoted when it holds a comma, a quote or a line break. */
function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** `t2v usage`: what callers used in a range, as a table, CSV or JSON (needs the admin scope). */
export async function usage(client: T2V, options: UsageOptions, global: GlobalOptions, io: CliIO) {
  const report: UsageReport = await client.usage.retrieve(
    { start: options.start, end: options.end, group_by: options.groupBy },
    { signal: io.signal },
  );
  if (global.json) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const keys = report.group_by;
  const rows = report.data.map((r) => [...keys.map((k) => r[k] ?? ''), ...figures(r)]);
  if (options.csv) {
    const lines = [[...keys, ...COLUMNS], ...rows].map((row) => row.map(csvField).join(','));
    io.stdout.write(`${lines.join('\n')}\n`);
    return;
  }
  if (rows.length === 0) io.stderr.write(`No job ended between ${report.start} and ${report.end}.\n`);
  else
    io.stdout.write(
      table(
        [...keys, ...COLUMNS].map((h) => h.toUpperCase()),
        rows,
      ),
    );
  if (!global.quiet) {
    io.stderr.write(
      `${report.start} – ${report.end}: ${report.total.jobs.total} jobs, ${report.total.gpu_seconds} GPU-seconds\n`,
    );
  }
}
