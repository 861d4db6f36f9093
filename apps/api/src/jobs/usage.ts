import { isTerminal } from '@t2v/contracts';

import { ANONYMOUS } from './fair-queue';
import type { Job } from './job.types';

/**
 * What one job used, recorded by the store in the same commit as the job's end (terminal status),
 * and kept when the job itself is deleted or its outputs expire.
 */
export interface UsageRecord {
  jobId: string;
  caller: string;
  model: string;
  outcome: 'completed' | 'failed' | 'cancelled';
  /** When it ended (unix ms). */
  endedAt: number;
  /** Seconds of video delivered (completed jobs only), to the millisecond. */
  outputSeconds: number;
  /** Frames delivered (completed jobs only). */
  frames: number;
  /** Worker wall time of every run of the job × the GPUs in its worker group, to the millisecond. */
  gpuSeconds: number;
  /** A copy of an earlier result: no GPU time. */
  cached: boolean;
}

const ms = (x: number) => Math.round(x * 1000) / 1000;

/** The usage record of a job that just ended (the redis store's Lua builds the same fields). */
export function usageOf(job: Job): UsageRecord | null {
  if (!isTerminal(job.status)) return null;
  const completed = job.status === 'completed';
  const frames = completed ? job.params.num_frames : 0;
  return {
    jobId: job.id,
    caller: job.caller ?? ANONYMOUS,
    model: job.model,
    outcome: job.status as UsageRecord['outcome'],
    endedAt: job.completedAt ?? 0,
    outputSeconds: completed && job.params.fps > 0 ? ms(frames / job.params.fps) : 0,
    frames,
    gpuSeconds: ms(job.gpuSeconds ?? 0),
    cached: job.cached,
  };
}

/** How `GET /v1/usage` groups records. */
export type UsageGroup = 'caller' | 'model' | 'day';

/** One group's totals. */
export interface UsageRow {
  caller?: string;
  model?: string;
  /** UTC date, YYYY-MM-DD. */
  day?: string;
  jobs: { completed: number; failed: number; cancelled: number; total: number };
  output_seconds: number;
  frames: number;
  gpu_seconds: number;
}

/** A row with nothing in it. */
export function emptyRow(): UsageRow {
  return {
    jobs: { completed: 0, failed: 0, cancelled: 0, total: 0 },
    output_seconds: 0,
    frames: 0,
    gpu_seconds: 0,
  };
}

/** Sums records into rows by `groups` (none: one row with everything), in key order. */
export function summarize(records: UsageRecord[], groups: UsageGroup[]): UsageRow[] {
  const rows = new Map<string, UsageRow>();
  for (const r of records) {
    const keys: Pick<UsageRow, 'caller' | 'model' | 'day'> = {};
    if (groups.includes('caller')) keys.caller = r.caller;
    if (groups.includes('model')) keys.model = r.model;
    if (groups.includes('day')) keys.day = new Date(r.endedAt).toISOString().slice(0, 10);
    const k = JSON.stringify([keys.day, keys.caller, keys.model]);
    let row = rows.get(k);
    if (!row) {
      row = { ...keys, ...emptyRow() };
      rows.set(k, row);
    }
    row.jobs[r.outcome] += 1;
    row.jobs.total += 1;
    row.output_seconds = ms(row.output_seconds + r.outputSeconds);
    row.frames += r.frames;
    row.gpu_seconds = ms(row.gpu_seconds + r.gpuSeconds);
  }
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}
