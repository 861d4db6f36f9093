import { createHash, randomInt } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import { type GenerateParams, isTerminal } from '@t2v/contracts';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { appLogger } from '../logging/logger';
import { OUTPUT_STORE, type OutputStore } from '../storage/output-store';
import { CapacityService } from './capacity.service';
import { JobEvents } from './job-events';
import { JobLifecycle } from './job-lifecycle';
import { newJobRecord } from './job-record';
import { JobRunner } from './job-runner';
import { JOB_STORE, type JobStore } from './job-store';
import { CallerCapReached, IdenticalJobActive, QueueFull, StoreUnavailable } from './job-store.errors';
import type { FittedImage, Job, ListPage, ListQuery, NewJobRequest } from './job.types';
import {
  CallerCapFull,
  IdempotencyConflict,
  InvalidJobState,
  JobNotFound,
  NoWorkerCanRun,
  QueueIsFull,
  ShuttingDown,
} from './jobs.errors';
import { JOB_DISPATCHER, type JobDispatcher } from './queue-driver';
import { ShutdownService } from './shutdown.service';
import { emptyRow, summarize, type UsageGroup, type UsageRow } from './usage';

/**
 * Job semantics: accept (with idempotency, the result cache and dedupe of identical jobs in
 * flight), read, cancel, delete, wait. Refuses with the domain errors of `jobs.errors.ts`; the
 * HTTP edge decides what they look like on the wire.
 */
@Injectable()
export class JobsService {
  private readonly logger = appLogger('jobs');

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'maxQueue' | 'outputTtlHours' | 'engine'>,
    @Inject(JOB_STORE) private readonly store: JobStore,
    @Inject(JOB_DISPATCHER) private readonly dispatcher: Pick<JobDispatcher, 'accepted'>,
    private readonly lifecycle: JobLifecycle,
    private readonly runner: JobRunner,
    private readonly events: JobEvents,
    @Inject(OUTPUT_STORE) private readonly storage: OutputStore,
    private readonly shutdown: ShutdownService,
    private readonly capacity: CapacityService,
  ) {}

  /**
   * Accepts a job, or answers with the one this request already maps to: an idempotent replay,
   * a cached result (a new completed job with copied outputs), or an identical job in flight.
   */
  async create(req: NewJobRequest, idempotencyKey: string | null): Promise<Job> {
    if (this.shutdown.draining) throw new ShuttingDown();
    const { image, ...fields } = req;
    // The record keeps the image by its content (the fitted PNG's hash and size): that is what the
    // keys hash, and where a replica finds the file is derived from the job id when it runs.
    const keyParams: GenerateParams = {
      ...req.params,
      image: image ? { path: '', sha256: image.sha256, width: image.width, height: image.height } : null,
    };
    const requestHash = hash(
      JSON.stringify({
        ...fields,
        params: { ...keyParams, seed: req.seedExplicit ? req.params.seed : null },
      }),
    );
    if (idempotencyKey) {
      const existing = await this.store.findByIdempotencyKey(idempotencyKey);
      if (existing) return checkReplay(existing, requestHash);
    }
    // Previews or not, the video is the same one.
    const cacheKey = req.seedExplicit
      ? hash(JSON.stringify([req.model, { ...keyParams, preview: undefined }]))
      : null;
    const record = (now: number) =>
      newJobRecord({ ...fields, params: keyParams, cacheKey, idempotencyKey, requestHash }, now);
    if (cacheKey) {
      // A cached copy is completed and never runs: it needs no input image file.
      const hit = await this.fromCache(cacheKey, record);
      if (hit) return hit;
    }
    const queued = await this.store.count('queued');
    if (queued >= this.config.maxQueue) throw this.queueFull(queued);
    // Not queued forever: when every worker has failed for good, say so instead (a cached result
    // or a replay above still answers).
    const refusal = await this.capacity.refusal();
    if (refusal) throw new NoWorkerCanRun(refusal);
    const fresh = await this.withInput(record(Date.now()), image);
    let job: Job;
    try {
      job = await this.store.insert(fresh);
    } catch (err) {
      if (image) await this.storage.removeInput(fresh.id);
      // A shared store decides these atomically across replicas (the count above may be stale).
      if (err instanceof QueueFull) throw this.queueFull(err.queued);
      if (err instanceof CallerCapReached) throw new CallerCapFull(err.caller, err.limit, this.retryHint());
      if (err instanceof StoreUnavailable) throw err;
      if (err instanceof IdenticalJobActive) {
        const active = await this.store.get(err.existingId);
        if (active) return active;
      }
      // Two concurrent creates with one Idempotency-Key: the store's unique index picks one.
      const existing = idempotencyKey ? await this.store.findByIdempotencyKey(idempotencyKey) : null;
      if (existing) return checkReplay(existing, requestHash);
      throw err;
    }
    try {
      await this.dispatcher.accepted(job);
    } catch (err) {
      // Not in line, so not accepted: take the record back (reconciliation re-enqueues it if
      // even that fails) and let the client retry.
      const removed = await this.store.delete(job.id).then(
        () => true,
        () => false,
      );
      if (removed && image) await this.storage.removeInput(job.id);
      throw err;
    }
    this.lifecycle.accepted(job);
    return job;
  }

  /**
   * Stores the record's input image beside its outputs before the record exists, so no worker
   * ever sees a job without its image.
   */
  private async withInput(record: Omit<Job, 'seq'>, image: FittedImage | null): Promise<Omit<Job, 'seq'>> {
    if (image) await this.storage.writeInput(record.id, image.png);
    return record;
  }

  private async fromCache(cacheKey: string, record: (now: number) => Omit<Job, 'seq'>): Promise<Job | null> {
    const done = await this.store.findCompletedByCacheKey(cacheKey);
    if (done && (await this.storage.has(done.id, 'video'))) {
      const now = Date.now();
      const copy = record(now);
      try {
        await this.storage.cloneOutputs(done.id, copy.id);
        return await this.lifecycle.insertCached({
          ...copy,
          status: 'completed',
          progress: 100,
          cached: true,
          completedAt: now,
          expiresAt: now + this.config.outputTtlHours * 3600_000,
          timings: { queue_s: 0, load_s: null, inference_s: 0, encode_s: 0 },
          acceleration: done.acceleration ?? null,
        });
      } catch (err) {
        await this.storage.remove(copy.id);
        throw err;
      }
    }
    return this.store.findActiveByCacheKey(cacheKey);
  }

  /** A rough retry hint for a full queue: a fraction of the typical job time. */
  private retryHint(): number {
    return this.config.engine === 'wan' ? 30 : 2;
  }

  private queueFull(queued: number): QueueIsFull {
    return new QueueIsFull(queued, this.retryHint());
  }

  async get(id: string): Promise<Job> {
    const job = await this.store.get(id);
    if (!job) throw new JobNotFound(id);
    return job;
  }

  queuePosition(job: Job): Promise<number | null> {
    return job.status === 'queued' ? this.store.queuePosition(job.id) : Promise.resolve(null);
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.store.list(query);
  }

  /** Usage of the jobs that ended in [from, to) (unix ms), summed by `groups`, and in all. */
  async usage(
    from: number,
    to: number,
    groups: UsageGroup[],
  ): Promise<{ rows: UsageRow[]; total: UsageRow }> {
    const records = await this.store.usage(from, to);
    return { rows: summarize(records, groups), total: summarize(records, [])[0] ?? emptyRow() };
  }

  async cancel(id: string): Promise<Job> {
    const job = await this.get(id);
    if (job.status === 'cancelled') return job;
    if (isTerminal(job.status)) {
      throw new InvalidJobState(
        'not_cancellable',
        `Video ${id} is already ${job.status} and cannot be cancelled.`,
      );
    }
    return (await this.stopAndCancel(job)) ?? (await this.get(id));
  }

  private async stopAndCancel(job: Job): Promise<Job | null> {
    const cancelled = await this.lifecycle.cancel(job);
    if (job.status === 'in_progress') this.runner.stop(job.id);
    return cancelled;
  }

  async delete(id: string): Promise<void> {
    const job = await this.get(id);
    if (!isTerminal(job.status)) await this.stopAndCancel(job);
    await this.store.delete(id);
    await this.storage.remove(id);
    this.logger.info({ job_id: id }, `deleted ${id}`);
  }

  /** Resolves with the job once terminal, or as it is when `timeoutMs` passes or `signal` aborts. */
  async waitForTerminal(id: string, timeoutMs: number, signal?: AbortSignal): Promise<Job> {
    const job = await this.get(id);
    if (isTerminal(job.status) || timeoutMs <= 0) return job;
    return new Promise<Job>((resolve) => {
      let latest = job;
      const finish = () => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', finish);
        resolve(latest);
      };
      const unsubscribe = this.events.subscribe(id, (j) => {
        latest = j;
        if (isTerminal(j.status)) finish();
      });
      const timer = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish);
      // Re-read after subscribing: the job may have finished in between.
      // If the store cannot answer now, the job's events or the deadline still end the wait.
      this.store.get(id).then(
        (j) => {
          if (j && isTerminal(j.status)) {
            latest = j;
            finish();
          }
        },
        () => undefined,
      );
    });
  }
}

function checkReplay(existing: Job, requestHash: string): Job {
  if (existing.requestHash !== requestHash) throw new IdempotencyConflict();
  return existing;
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function randomSeed(): number {
  return randomInt(0, 2 ** 32 - 1);
}
