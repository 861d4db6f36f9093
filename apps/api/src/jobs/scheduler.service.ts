import * as fs from 'node:fs';

import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { type GenerateRequest, isJobErrorCode, type JobErrorCode } from '@t2v/contracts';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { METRIC } from '../metrics/metrics';
import { StorageService } from '../storage/storage.service';
import { WorkerPoolService } from '../worker-pool/worker-pool.service';
import type { RunOutcome, WorkerSupervisor } from '../worker-pool/worker-supervisor';
import { JobEvents } from './job-events';
import { JOB_STORE, type JobStore } from './job-store';
import { StoreUnavailable } from './job-store.errors';
import type { Job } from './job.types';

/** A job whose worker died is run at most this many times in all. */
export const MAX_ATTEMPTS = 2;

/** A dispatcher other than the embedded pump (the redis driver's BullMQ worker). */
export interface ExternalDispatcher {
  /** Stops taking jobs; waits up to `graceMs` for running ones, then hands the rest back. */
  drain(graceMs: number): Promise<void>;
  /** Asks whichever replica runs `jobId` to stop it. */
  cancelRemote(jobId: string): void;
}

/**
 * Runs jobs on the worker pool and records their outcome. With the embedded driver it is also
 * the dispatcher (FIFO from the durable store onto free worker slots, recovery at boot); with
 * the redis driver, `RedisDispatcher` takes jobs from BullMQ and calls `execute`.
 * Retries a crashed job once, sweeps expired outputs.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('scheduler');
  private pumping = false;
  private pumpAgain = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly running = new Map<string, Promise<void>>();
  draining = false;
  private external: ExternalDispatcher | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JOB_STORE) private readonly store: JobStore,
    private readonly pool: WorkerPoolService,
    private readonly events: JobEvents,
    private readonly storage: StorageService,
    @InjectMetric(METRIC.jobsFinished) private readonly finished: Counter<string>,
    @InjectMetric(METRIC.queueDepth) private readonly queueDepth: Gauge<string>,
    @InjectMetric(METRIC.jobsInProgress) private readonly inProgress: Gauge<string>,
    @InjectMetric(METRIC.queueWait) private readonly queueWait: Histogram<string>,
    @InjectMetric(METRIC.inference) private readonly inference: Histogram<string>,
    @InjectMetric(METRIC.encode) private readonly encode: Histogram<string>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.store.open();
    this.storage.ensureRoot();
    if (this.config.queue === 'embedded') {
      this.removeStrayTempFiles();
      await this.recover();
      this.pool.on('available', () => this.kick());
    } else {
      // The output root is shared: a fresh temp file may belong to a job running on another replica.
      this.removeStrayTempFiles(3600_000);
    }
    this.pool.start();
    this.sweepTimer = setInterval(() => void this.sweepExpired(), this.config.expirySweepS * 1000);
    this.sweepTimer.unref();
    await this.refreshGauges();
  }

  /** Jobs that were running when the API stopped go back to the queue once, then fail. */
  private async recover(): Promise<void> {
    for (const job of await this.store.byStatus('in_progress')) {
      if (job.attempts >= MAX_ATTEMPTS) {
        await this.fail(job, 'INTERRUPTED', `interrupted by a restart on each of ${job.attempts} attempts`);
      } else {
        await this.store.transition(job.id, ['in_progress'], 'queued', { progress: 0, startedAt: null });
        this.logger.warn(`requeued ${job.id}, interrupted by a restart`);
      }
    }
  }

  /** Workers write `.<name>.<pid>.tmp*` beside the final file; a crash can leave one behind. */
  private removeStrayTempFiles(olderThanMs = 0): void {
    for (const name of fs.readdirSync(this.storage.root)) {
      if (name.startsWith('.') && name.includes('.tmp')) {
        const file = `${this.storage.root}/${name}`;
        if (
          olderThanMs > 0 &&
          Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) < olderThanMs
        )
          continue;
        fs.rmSync(file, { force: true });
      }
    }
  }

  /** Lets another dispatcher (redis driver) take over draining and remote cancels. */
  attachDispatcher(dispatcher: ExternalDispatcher): void {
    this.external = dispatcher;
  }

  /** Schedules a dispatch pass (coalesced). The redis driver dispatches from BullMQ instead. */
  kick(): void {
    if (this.config.queue !== 'embedded') return;
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (!this.draining) {
          const worker = this.pool.acquire();
          if (!worker) break;
          const job = await this.store.claimNext(Date.now());
          if (!job) break;
          const run = this.execute(worker, job).finally(() => this.running.delete(job.id));
          this.running.set(job.id, run);
        }
      } while (this.pumpAgain);
    } catch (err) {
      this.logger.error(`dispatch failed: ${(err as Error).message}`);
    } finally {
      this.pumping = false;
      await this.refreshGauges();
    }
  }

  /** Runs a claimed job on `worker` and records the outcome. Never rejects. */
  async execute(worker: WorkerSupervisor, job: Job): Promise<void> {
    const request: GenerateRequest = {
      type: 'generate',
      job_id: job.id,
      // A record stored before `acceleration` existed asks for the default.
      params: { ...job.params, acceleration: job.params.acceleration ?? 'auto' },
      out_path: this.storage.pathFor(job.id, 'video'),
      thumbnail_path: this.storage.pathFor(job.id, 'thumbnail'),
    };
    let lastProgress = -1;
    // Hand the job over before any await: runJob marks the worker BUSY synchronously, so the
    // dispatch loop cannot give the same worker a second job.
    const running = worker.runJob(request, (step, total) => {
      const progress = Math.min(99, Math.floor((step / total) * 100));
      if (progress === lastProgress) return;
      lastProgress = progress;
      // Best effort: with the store briefly unreachable (Redis restarting) this update is dropped;
      // the next one, or the terminal write (which retries), carries the state forward.
      this.store.transition(job.id, ['in_progress'], 'in_progress', { progress }).then(
        (j) => {
          if (j) this.events.publish(j);
        },
        (err: unknown) => this.logger.warn(`progress of ${job.id} not recorded: ${(err as Error).message}`),
      );
    });
    const queueS =
      job.startedAt && job.attempts === 1 ? (job.startedAt - job.createdAt) / 1000 : job.timings.queue_s;
    if (job.attempts === 1 && queueS !== null) this.queueWait.observe(queueS);
    const started = await this.store.transition(job.id, ['in_progress'], 'in_progress', {
      timings: { ...job.timings, queue_s: queueS, load_s: worker.ready?.load_s ?? null },
    });
    if (started) this.events.publish(started);
    const outcome = await running;
    // A shared store may be briefly unreachable (Redis restarting): keep the outcome and retry.
    for (let tries = 1; ; tries++) {
      try {
        await this.settle(job, outcome);
        break;
      } catch (err) {
        if (err instanceof StoreUnavailable && tries < 120 && !this.draining) {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        this.logger.error(`could not record the outcome of ${job.id}: ${(err as Error).message}`);
        break;
      }
    }
    this.kick();
  }

  private async settle(job: Job, outcome: RunOutcome): Promise<void> {
    const current = await this.store.get(job.id);
    const sameRun = current?.attempts === job.attempts && current.startedAt === job.startedAt;
    if (!current || current.status !== 'in_progress' || !sameRun) {
      // Cancelled or deleted while running: whatever the worker produced is not wanted. Any other
      // state belongs to another run of this job (taken over, handed back, already completed:
      // the same output path), which this outcome must not touch.
      if (outcome.kind === 'done' && (!current || current.status === 'cancelled'))
        await this.storage.remove(job.id);
      return;
    }
    switch (outcome.kind) {
      case 'done': {
        const { inference_s, encode_s } = outcome.event.timings;
        if (!(await this.storage.stat(job.id, 'video'))) {
          await this.fail(current, 'STORAGE_ERROR', 'the worker reported done but the MP4 is not in place');
          return;
        }
        const now = Date.now();
        const done = await this.store.transition(job.id, ['in_progress'], 'completed', {
          progress: 100,
          completedAt: now,
          expiresAt: now + this.config.outputTtlHours * 3600_000,
          timings: { ...current.timings, inference_s, encode_s },
          acceleration: outcome.event.acceleration,
        });
        if (done) {
          this.inference.observe(inference_s);
          this.encode.observe(encode_s);
          this.finished.inc({ model: done.model, status: 'completed' });
          this.events.settled(done);
        }
        return;
      }
      case 'error':
        if (outcome.code === 'CANCELLED') {
          await this.markCancelled(current);
        } else {
          await this.fail(current, outcome.code, outcome.message);
        }
        return;
      case 'crashed':
        if (current.attempts < MAX_ATTEMPTS) {
          const requeued = await this.store.transition(job.id, ['in_progress'], 'queued', {
            progress: 0,
            startedAt: null,
          });
          this.logger.warn(`worker crashed on ${job.id} (${outcome.reason}); retrying`);
          if (requeued) this.events.publish(requeued);
        } else {
          await this.fail(current, 'WORKER_CRASHED', `worker crashed on every attempt: ${outcome.reason}`);
        }
        return;
    }
  }

  async fail(job: Job, code: JobErrorCode | string, message: string): Promise<void> {
    const errorCode: JobErrorCode = isJobErrorCode(code) ? code : 'ENGINE_ERROR';
    const failed = await this.store.transition(job.id, ['queued', 'in_progress'], 'failed', {
      errorCode,
      errorMessage: message,
      completedAt: Date.now(),
    });
    if (failed) {
      this.logger.warn(`${job.id} failed: ${errorCode}: ${message}`);
      this.finished.inc({ model: failed.model, status: 'failed' });
      this.events.settled(failed);
    }
  }

  private async markCancelled(job: Job): Promise<Job | null> {
    const cancelled = await this.store.transition(job.id, ['queued', 'in_progress'], 'cancelled', {
      completedAt: Date.now(),
    });
    if (cancelled) {
      this.finished.inc({ model: cancelled.model, status: 'cancelled' });
      this.events.settled(cancelled);
      await this.refreshGauges();
    }
    return cancelled;
  }

  /** Cancels a queued job at once; asks the worker to stop a running one within a step. */
  async cancel(job: Job): Promise<Job | null> {
    const cancelled = await this.markCancelled(job);
    if (job.status === 'in_progress') {
      this.pool.find(job.id)?.cancel(job.id);
      this.external?.cancelRemote(job.id);
    }
    return cancelled;
  }

  private async sweepExpired(): Promise<void> {
    try {
      for (const job of await this.store.findExpired(Date.now())) {
        await this.storage.remove(job.id);
        await this.store.update(job.id, { expired: true });
        this.logger.log(`outputs of ${job.id} expired and were removed`);
      }
    } catch (err) {
      this.logger.error(`expiry sweep failed: ${(err as Error).message}`);
    }
  }

  async refreshGauges(): Promise<void> {
    try {
      this.queueDepth.set(await this.store.count('queued'));
      this.inProgress.set(await this.store.count('in_progress'));
    } catch {
      /* store closed during shutdown */
    }
  }

  /** A rough Retry-After for a full queue: a fraction of the typical job time. */
  retryAfterSeconds(): number {
    return this.config.engine === 'wan' ? 30 : 2;
  }

  /** Stops dispatching; waits up to `graceMs` for running jobs, which are requeued if cut off. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    if (this.external) return this.external.drain(graceMs);
    const all = Promise.allSettled([...this.running.values()]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
  }

  async onApplicationShutdown(): Promise<void> {
    this.draining = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  async closeStore(): Promise<void> {
    await this.store.close();
  }
}
