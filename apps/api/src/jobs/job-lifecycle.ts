import { EventEmitter } from 'node:events';

import { Inject, Injectable } from '@nestjs/common';
import { isJobErrorCode, type JobErrorCode, type JobStatus } from '@t2v/contracts';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import { ulid } from 'ulid';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { appLogger, type Log } from '../logging/logger';
import { METRIC } from '../metrics/metrics';
import { OUTPUT_STORE, type OutputStore } from '../storage/output-store';
import { JobEvents } from './job-events';
import { JOB_STORE, type JobStore, type OutboxIntent } from './job-store';
import type { Job, JobTimings } from './job.types';

/** Tells the webhook deliverer that the outbox holds something new (it also polls). */
@Injectable()
export class OutboxSignal extends EventEmitter {
  notify(): void {
    this.emit('written');
  }
}

/** A job is run at most this many times in all: a run that ended by accident is retried once. */
export const MAX_ATTEMPTS = 2;

/** Why a run ended by accident, and the code a job fails with when it has had its attempts. */
export interface RunLost {
  /** For the log and, on the last attempt, the job's error message. */
  reason: string;
  /** `WORKER_CRASHED`: its worker died; `INTERRUPTED`: its process (a restart, a lost replica). */
  code: 'WORKER_CRASHED' | 'INTERRUPTED';
}

/**
 * The one owner of every status change of a job after it is accepted, the claim included. Each
 * method makes the transition in the store (with the webhook it owes, in the same commit),
 * announces it, and counts it; the dispatchers, the runner and the job service call these and
 * nothing else. See docs/architecture/10-api.md for the states and who calls what.
 */
@Injectable()
export class JobLifecycle {
  private readonly logger = appLogger('lifecycle');

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<AppConfig, 'outputTtlHours' | 'groupSize' | 'apiKeys' | 'jwt'>,
    @Inject(JOB_STORE) private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly outbox: OutboxSignal,
    @Inject(OUTPUT_STORE) private readonly storage: Pick<OutputStore, 'removeInput'>,
    @InjectMetric(METRIC.jobsSubmitted) private readonly submitted: Counter<string>,
    @InjectMetric(METRIC.jobsFinished) private readonly finished: Counter<string>,
    @InjectMetric(METRIC.cacheHits) private readonly cacheHits: Counter<string>,
    @InjectMetric(METRIC.queueWait) private readonly queueWait: Histogram<string>,
    @InjectMetric(METRIC.inference) private readonly inference: Histogram<string>,
    @InjectMetric(METRIC.encode) private readonly encode: Histogram<string>,
    @InjectMetric(METRIC.gpuSeconds) private readonly gpuSeconds: Counter<string>,
  ) {}

  /**
   * The GPU-seconds of a job once its current run (if any) ends now: earlier runs' plus this one's
   * wall time × the devices of this process's worker group (a CPU worker: one).
   */
  private used(job: Job, now: number): { total: number; run: number } {
    const run =
      job.status === 'in_progress' && job.startedAt !== null
        ? (Math.max(0, now - job.startedAt) / 1000) * Math.max(1, this.config.groupSize)
        : 0;
    return { total: (job.gpuSeconds ?? 0) + run, run };
  }

  /** Counts a run's GPU-seconds (the caller label only while keys bound the set of callers). */
  private countGpu(job: Job, seconds: number): void {
    if (seconds <= 0) return;
    const bounded = this.config.apiKeys.length > 0 && !this.config.jwt;
    this.gpuSeconds.inc({ model: job.model, caller: bounded ? (job.caller ?? '') : '' }, seconds);
  }

  /** A new job was inserted, queued. */
  accepted(job: Job): void {
    this.log(job).info('accepted');
    this.submitted.inc({ model: job.model });
    this.events.publish(job);
  }

  /**
   * Inserts `record`, a completed copy of a cached result, with the webhook it owes. Counted as
   * submitted and finished both, so submitted minus finished stays the jobs in flight.
   */
  async insertCached(record: Omit<Job, 'seq'>): Promise<Job> {
    const intent = this.intent(record, 'completed', record.completedAt ?? Date.now());
    const job = await this.store.insert(record, intent);
    this.submitted.inc({ model: job.model });
    this.finished.inc({ model: job.model, status: 'completed' });
    this.cacheHits.inc();
    this.events.publish(job);
    if (intent) this.outbox.notify();
    return job;
  }

  /**
   * Takes a queued job for a run on a worker this process holds: the one with `id`, or the next
   * in fair order (jobs/fair-queue.ts), run under the shared queue's delivery `carrier` when
   * given. It becomes in_progress with one more attempt. Null when there is none (or it is no
   * longer queued).
   */
  async claim(id?: string, carrier?: string): Promise<Job | null> {
    const claimed = await this.store.claim(Date.now(), id, carrier);
    if (claimed) this.events.publish(claimed);
    return claimed;
  }

  /** A claimed job's run has begun on a worker (`loadS`: that worker's model load time). */
  async started(job: Job, loadS: number | null): Promise<void> {
    const queueS =
      job.startedAt && job.attempts === 1 ? (job.startedAt - job.createdAt) / 1000 : job.timings.queue_s;
    if (job.attempts === 1 && queueS !== null) this.queueWait.observe(queueS);
    const timings: JobTimings = { ...job.timings, queue_s: queueS, load_s: loadS };
    const started = await this.store.transition(job.id, ['in_progress'], 'in_progress', { timings });
    if (started) this.log(job).info({ queue_s: queueS, attempt: job.attempts }, 'started');
    if (started) this.events.publish(started);
  }

  /**
   * Progress of a running job. Best effort: with the store briefly unreachable (Redis restarting)
   * this update is dropped; the next one, or the terminal write, carries the state forward.
   */
  progress(job: Job, progress: number): void {
    this.store.transition(job.id, ['in_progress'], 'in_progress', { progress }).then(
      (j) => {
        if (j) this.events.publish(j);
      },
      (err: unknown) =>
        this.log(job).warn({ err }, `progress of ${job.id} not recorded: ${(err as Error).message}`),
    );
  }

  /** The run produced its video (`acceleration`: what the worker says produced it). */
  async complete(
    job: Job,
    result: { inference_s: number; encode_s: number; acceleration: Job['acceleration'] },
  ): Promise<Job | null> {
    const now = Date.now();
    const { inference_s, encode_s, acceleration } = result;
    const done = await this.settle(job, ['in_progress'], 'completed', {
      progress: 100,
      completedAt: now,
      expiresAt: now + this.config.outputTtlHours * 3600_000,
      timings: { ...job.timings, inference_s, encode_s },
      acceleration,
    });
    if (done) {
      this.log(job).info({ inference_s, encode_s }, 'completed');
      this.inference.observe(result.inference_s);
      this.encode.observe(result.encode_s);
    }
    return done;
  }

  async fail(job: Job, code: JobErrorCode | string, message: string): Promise<Job | null> {
    const errorCode: JobErrorCode = isJobErrorCode(code) ? code : 'ENGINE_ERROR';
    const failed = await this.settle(job, ['queued', 'in_progress'], 'failed', {
      errorCode,
      errorMessage: message,
      completedAt: Date.now(),
    });
    if (failed) this.log(job).warn({ error_code: errorCode }, `${job.id} failed: ${errorCode}: ${message}`);
    return failed;
  }

  /** Queued or running becomes cancelled; null if it was neither any more. */
  async cancel(job: Job): Promise<Job | null> {
    const cancelled = await this.settle(job, ['queued', 'in_progress'], 'cancelled', {
      completedAt: Date.now(),
    });
    if (cancelled) this.log(job).info('cancelled');
    return cancelled;
  }

  /**
   * A run ended by accident (its worker crashed, its process restarted or was lost): the one
   * retry rule. The job goes back to the queue with the attempt counted while it has attempts
   * left (MAX_ATTEMPTS), else fails with `lost.code`. Every such path (worker crash, restart
   * recovery, a replica's takeover, a lost run found by reconciliation) comes through here.
   */
  async retry(job: Job, lost: RunLost): Promise<Job | null> {
    if (job.attempts >= MAX_ATTEMPTS) {
      return this.fail(job, lost.code, `${lost.reason} (on each of ${job.attempts} attempts)`);
    }
    return this.requeue(job, { attempts: job.attempts }, `${lost.reason}; attempt ${job.attempts} counted`);
  }

  /**
   * A running job handed back unfinished on purpose (shutdown: a GPU pod scaled in or replaced):
   * back to the queue without counting the attempt.
   */
  handBack(job: Job, reason: string): Promise<Job | null> {
    return this.requeue(
      job,
      { attempts: Math.max(0, job.attempts - 1) },
      `${reason}; attempt ${job.attempts} not counted`,
    );
  }

  private async requeue(job: Job, patch: { attempts: number }, why: string): Promise<Job | null> {
    const used = this.used(job, Date.now());
    const requeued = await this.store.transition(job.id, ['in_progress'], 'queued', {
      progress: 0,
      startedAt: null,
      gpuSeconds: used.total,
      ...patch,
    });
    if (requeued) {
      this.countGpu(job, used.run);
      this.log(job).warn(`requeued ${job.id} (${why})`);
      this.events.publish(requeued);
    }
    return requeued;
  }

  private async settle(
    job: Job,
    from: JobStatus[],
    to: 'completed' | 'failed' | 'cancelled',
    patch: Partial<Job>,
  ): Promise<Job | null> {
    const now = Date.now();
    const intent = this.intent(job, to, now);
    const used = this.used(job, now);
    const settled = await this.store.transition(
      job.id,
      from,
      to,
      { ...patch, gpuSeconds: used.total },
      intent,
    );
    if (!settled) return null;
    this.countGpu(settled, used.run);
    this.finished.inc({ model: settled.model, status: to });
    this.events.publish(settled);
    if (intent) this.outbox.notify();
    if (to !== 'completed' && settled.params.image) {
      // No output comes and the job never runs again, whoever ended it (runner, cancel, a
      // dispatcher's takeover or reconciliation, recovery): its input image goes now.
      await this.storage.removeInput(settled.id).catch((err: Error) => {
        this.log(settled).warn({ err }, `${settled.id}: input image not removed: ${err.message}`);
      });
    }
    return settled;
  }

  /** The lifecycle's logger for one job: every line carries its id. */
  private log(job: Pick<Job, 'id'>): Log {
    return this.logger.child({ job_id: job.id });
  }

  private intent(
    job: Pick<Job, 'webhookUrl'>,
    to: 'completed' | 'failed' | 'cancelled',
    at: number,
  ): OutboxIntent | undefined {
    if (!job.webhookUrl) return undefined;
    return { id: `msg_${ulid()}`, event: `video.${to}`, url: job.webhookUrl, at };
  }
}
