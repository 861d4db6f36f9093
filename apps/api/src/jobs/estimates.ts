import { Inject, Injectable } from '@nestjs/common';

import { appLogger } from '../logging/logger';
import { CapacityService } from './capacity.service';
import { JOB_STORE, type JobStore } from './job-store';
import type { Job } from './job.types';

/**
 * What the store keeps per job shape (docs/adr/0078-estimate-model.md): the learned time of one
 * denoising step and of what follows the last step (decode, encode, bookkeeping), as moving
 * averages over completed runs.
 */
export interface ShapeTiming {
  /** Seconds per denoising step. */
  stepS: number;
  /** Seconds of a run outside its steps (run wall time − inference time). */
  postS: number;
  /** Completed runs it learned from. */
  n: number;
  /** When it last learned (unix ms). */
  at: number;
}

/** The weight of a new run in the moving averages. */
const ALPHA = 0.3;
/** How long learned timings read from the store are reused before reading them again (another replica may have learned). */
const RELOAD_MS = 5000;
/** How long one schedule is reused for the jobs it covers. */
const SCHEDULE_MS = 500;
/**
 * The least time between two schedules: a plan reads every queued job, so a burst of creates
 * (each new job is missing from the last schedule) shares one plan instead of one each.
 */
const REPLAN_MS = 100;

/** What decides a run's time: model, size, frames and acceleration (steps multiply a step's time). */
export function shapeKey(job: Pick<Job, 'model' | 'params'>): string {
  const p = job.params;
  return `${job.model}|${p.width}x${p.height}|${p.num_frames}|${p.acceleration ?? 'auto'}`;
}

/** Folds one completed run into a shape's timing. */
export function learnTiming(
  prev: ShapeTiming | undefined,
  stepS: number,
  postS: number,
  at: number,
): ShapeTiming {
  if (!prev) return { stepS, postS, n: 1, at };
  return {
    stepS: prev.stepS + ALPHA * (stepS - prev.stepS),
    postS: prev.postS + ALPHA * (postS - prev.postS),
    n: prev.n + 1,
    at,
  };
}

/**
 * A job's run time from what is known: its own shape's timing; else the same model's other
 * shapes scaled by pixels × frames (the nearest such shape); else unknown (null).
 */
export function runSeconds(
  job: Pick<Job, 'model' | 'params'>,
  timings: Map<string, ShapeTiming>,
): number | null {
  const p = job.params;
  const own = timings.get(shapeKey(job));
  if (own) return p.num_inference_steps * own.stepS + own.postS;
  const volume = p.width * p.height * p.num_frames;
  let best: { t: ShapeTiming; ratio: number } | null = null;
  for (const [key, t] of timings) {
    const [model, size, frames] = key.split('|');
    if (model !== job.model) continue;
    const [w, h] = size!.split('x').map(Number);
    const ratio = volume / (w! * h! * Number(frames));
    if (!best || Math.abs(Math.log(ratio)) < Math.abs(Math.log(best.ratio))) best = { t, ratio };
  }
  if (!best) return null;
  return (p.num_inference_steps * best.t.stepS + best.t.postS) * best.ratio;
}

/** When a queued or running job should start and end (unix ms); absent when there is no data. */
export interface Estimate {
  startAt: number;
  completionAt: number;
}

/**
 * Estimates of start and completion for queued and running jobs: learned step times per shape
 * (persisted in the store, so a restart or another replica knows them), the jobs ahead in queue
 * order, and the workers available (the GPU registry's loaded workers). No estimate rather than
 * a wrong one: a job gets none while its run time, or that of a job ahead of it, is unknown, or
 * while no worker is loaded.
 */
@Injectable()
export class EstimateService {
  private readonly logger = appLogger('estimates');
  private timings: { at: number; value: Promise<Map<string, ShapeTiming>> } | null = null;
  private schedule: { at: number; value: Promise<Map<string, Estimate>> } | null = null;
  /** The next schedule, while it waits for REPLAN_MS to pass since the last one. */
  private next: Promise<Map<string, Estimate>> | null = null;

  constructor(
    @Inject(JOB_STORE) private readonly store: JobStore,
    private readonly capacity: CapacityService,
  ) {}

  private known(now: number): Promise<Map<string, ShapeTiming>> {
    if (!this.timings || now - this.timings.at > RELOAD_MS) {
      const value = this.store.timings().then((t) => new Map(Object.entries(t)));
      value.catch(() => (this.timings = null));
      this.timings = { at: now, value };
    }
    return this.timings.value;
  }

  /** Learns from a run that completed here (not a cached copy), and persists what it learned. */
  async learn(job: Job): Promise<void> {
    const inference = job.timings.inference_s;
    if (job.cached || job.status !== 'completed' || inference === null || job.startedAt === null) return;
    if (job.completedAt === null || job.params.num_inference_steps <= 0) return;
    const wall = (job.completedAt - job.startedAt) / 1000;
    const key = shapeKey(job);
    try {
      const known = await this.known(Date.now());
      const next = learnTiming(
        known.get(key),
        inference / job.params.num_inference_steps,
        Math.max(0, wall - inference),
        job.completedAt,
      );
      known.set(key, next);
      this.schedule = null;
      await this.store.saveTiming(key, next);
    } catch (err) {
      this.logger.warn({ err, job_id: job.id }, `timing of ${key} not learned: ${(err as Error).message}`);
    }
  }

  /** The estimate of a queued or running job, or null (no data yet, or nothing to run it on). */
  async of(job: Job): Promise<Estimate | null> {
    if (job.status !== 'queued' && job.status !== 'in_progress') return null;
    const now = Date.now();
    // Nothing learned for this model yet: no estimate for it (the plan would give none), no plan.
    const timings = await this.known(now);
    if (![...timings.keys()].some((key) => key.startsWith(`${job.model}|`))) return null;
    const cached = this.schedule && now - this.schedule.at <= SCHEDULE_MS ? this.schedule : null;
    const known = cached ? await cached.value : null;
    // A job newer than the schedule (just created, just claimed) gets a fresh one.
    const plan = known?.has(job.id) ? known : await this.replan();
    return plan.get(job.id) ?? null;
  }

  /** A fresh schedule, at most one per REPLAN_MS: callers in between share the next one. */
  private replan(): Promise<Map<string, Estimate>> {
    if (this.next) return this.next;
    const since = this.schedule ? Date.now() - this.schedule.at : Infinity;
    const wait = Math.max(0, REPLAN_MS - since);
    const next = new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() => {
      // From here on a new caller waits for the one after: this plan may not see its job.
      this.next = null;
      const at = Date.now();
      const value = this.plan(at);
      this.schedule = { at, value };
      value.catch(() => (this.schedule = null));
      return value;
    });
    this.next = next;
    return next;
  }

  /**
   * Plays the queue forward: each loaded worker frees up when its run should end, and takes the
   * next job in queue order (the fair order both stores claim in: turn, then id).
   */
  private async plan(now: number): Promise<Map<string, Estimate>> {
    const [timings, running, queued, capacity] = await Promise.all([
      this.known(now),
      this.store.byStatus('in_progress'),
      this.store.byStatus('queued'),
      this.capacity.now(),
    ]);
    const out = new Map<string, Estimate>();
    const free: number[] = [];
    let unknownAhead = false;
    for (const job of running) {
      const total = runSeconds(job, timings);
      if (total === null) {
        unknownAhead = true;
        continue;
      }
      const started = job.startedAt ?? now;
      // A run past its estimate ends soon: at least another step of it.
      const end = Math.max(
        started + total * 1000,
        now + (total / Math.max(1, job.params.num_inference_steps)) * 1000,
      );
      out.set(job.id, { startAt: started, completionAt: end });
      free.push(end);
    }
    const workers = capacity.idle + capacity.busy;
    if (workers === 0) return out;
    while (free.length < workers) free.push(now);
    free.sort((a, b) => a - b);
    free.length = workers;
    queued.sort((a, b) => (a.turn ?? 0) - (b.turn ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const job of queued) {
      const total = runSeconds(job, timings);
      // Behind a job of unknown length every start is a guess: none is given.
      if (total === null || unknownAhead) {
        unknownAhead = true;
        continue;
      }
      const startAt = free.shift()!;
      const completionAt = startAt + total * 1000;
      out.set(job.id, { startAt, completionAt });
      const at = free.findIndex((t) => t > completionAt);
      free.splice(at === -1 ? free.length : at, 0, completionAt);
    }
    return out;
  }
}
