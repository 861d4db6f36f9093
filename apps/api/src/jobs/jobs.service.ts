import { createHash, randomInt } from 'node:crypto';

import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { isTerminal } from '@t2v/contracts';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ulid } from 'ulid';

import { ApiError } from '../common/api-error';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { METRIC } from '../metrics/metrics';
import { StorageService } from '../storage/storage.service';
import type { ResolvedCreate } from '../videos/create-video.schema';
import { JobEvents } from './job-events';
import { JOB_STORE, type JobStore } from './job-store';
import { IdenticalJobActive, QueueFull, StoreUnavailable } from './job-store.errors';
import type { Job, ListPage, ListQuery } from './job.types';
import { JOB_DISPATCH, type JobDispatch } from './redis/redis-dispatcher';
import { SchedulerService } from './scheduler.service';

export interface CreateResult {
  job: Job;
  /** How the request was answered: a new job, an idempotent replay, the cache, or an identical job in flight. */
  source: 'new' | 'idempotent' | 'cache' | 'in_flight';
}

/** Job semantics (DESIGN §3): accept, dedupe, cache, cancel, delete, wait. No HTTP in here. */
@Injectable()
export class JobsService {
  private readonly logger = new Logger('jobs');

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(JOB_STORE) private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly storage: StorageService,
    private readonly scheduler: SchedulerService,
    @InjectMetric(METRIC.jobsSubmitted) private readonly submitted: Counter<string>,
    @InjectMetric(METRIC.cacheHits) private readonly cacheHits: Counter<string>,
    @InjectMetric(METRIC.jobsFinished) private readonly finished: Counter<string>,
    /** Present with the redis driver: new jobs go onto the shared BullMQ queue. */
    @Optional() @Inject(JOB_DISPATCH) private readonly dispatch?: JobDispatch,
  ) {}

  static newId(): string {
    return `video_${ulid()}`;
  }

  async create(req: ResolvedCreate, idempotencyKey: string | null): Promise<CreateResult> {
    return this.available(this.createJob(req, idempotencyKey));
  }

  /**
   * Store trouble (Redis down or too slow) becomes a 503 with Retry-After, at once: the store's
   * client never queues commands while disconnected, so this answers within its short timeouts.
   */
  private async available<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof StoreUnavailable) {
        throw ApiError.unavailable('not_ready', 'The job queue is unreachable right now; retry shortly.', 1);
      }
      throw err;
    }
  }

  private queueFull(queued: number): ApiError {
    return ApiError.unavailable(
      'queue_full',
      `The queue is full (${queued} jobs waiting); retry later.`,
      this.scheduler.retryAfterSeconds(),
    );
  }

  private async createJob(req: ResolvedCreate, idempotencyKey: string | null): Promise<CreateResult> {
    if (this.scheduler.draining) {
      throw ApiError.unavailable(
        'shutting_down',
        'The server is shutting down; retry on another replica.',
        1,
      );
    }
    const requestHash = hash(
      JSON.stringify({ ...req, params: { ...req.params, seed: req.seedExplicit ? req.params.seed : null } }),
    );
    if (idempotencyKey) {
      const existing = await this.store.findByIdempotencyKey(idempotencyKey);
      if (existing) return { job: this.checkReplay(existing, requestHash), source: 'idempotent' };
    }
    const cacheKey = req.seedExplicit ? hash(JSON.stringify([req.model, req.params])) : null;
    if (cacheKey) {
      const hit = await this.fromCache(req, cacheKey, idempotencyKey, requestHash);
      if (hit) return hit;
    }
    const queued = await this.store.count('queued');
    if (queued >= this.config.maxQueue) throw this.queueFull(queued);
    const now = Date.now();
    let job: Job;
    try {
      job = await this.store.insert({
        ...this.blank(req, now, cacheKey, idempotencyKey, requestHash),
        status: 'queued',
      });
    } catch (err) {
      // A shared store decides these atomically across replicas (the count above may be stale).
      if (err instanceof QueueFull) throw this.queueFull(err.queued);
      if (err instanceof StoreUnavailable) throw err;
      if (err instanceof IdenticalJobActive) {
        const active = await this.store.get(err.existingId);
        if (active) return { job: active, source: 'in_flight' };
      }
      // Two concurrent creates with one Idempotency-Key: the store's unique index picks one.
      const existing = idempotencyKey ? await this.store.findByIdempotencyKey(idempotencyKey) : null;
      if (existing) return { job: this.checkReplay(existing, requestHash), source: 'idempotent' };
      throw err;
    }
    if (this.dispatch) {
      try {
        await this.dispatch.enqueue(job);
      } catch (err) {
        // Not on the queue, so not accepted: take the record back (the sweep re-enqueues it if
        // even that fails) and let the client retry.
        await this.store.delete(job.id).catch(() => undefined);
        throw err;
      }
    }
    this.submitted.inc({ model: job.model });
    this.events.publish(job);
    this.scheduler.kick();
    return { job, source: 'new' };
  }

  private async fromCache(
    req: ResolvedCreate,
    cacheKey: string,
    idempotencyKey: string | null,
    requestHash: string,
  ): Promise<CreateResult | null> {
    const done = await this.store.findCompletedByCacheKey(cacheKey);
    if (done && (await this.storage.stat(done.id, 'video'))) {
      const now = Date.now();
      const id = JobsService.newId();
      await this.storage.cloneOutputs(done.id, id);
      const job = await this.store.insert({
        ...this.blank(req, now, cacheKey, idempotencyKey, requestHash),
        id,
        status: 'completed',
        progress: 100,
        cached: true,
        completedAt: now,
        expiresAt: now + this.config.outputTtlHours * 3600_000,
        timings: { queue_s: 0, load_s: null, inference_s: 0, encode_s: 0 },
        acceleration: done.acceleration ?? null,
      });
      // Submitted and finished both count it, so submitted minus finished stays the jobs in flight.
      this.submitted.inc({ model: job.model });
      this.finished.inc({ model: job.model, status: 'completed' });
      this.cacheHits.inc();
      this.events.settled(job);
      return { job, source: 'cache' };
    }
    const active = await this.store.findActiveByCacheKey(cacheKey);
    return active ? { job: active, source: 'in_flight' } : null;
  }

  private checkReplay(existing: Job, requestHash: string): Job {
    if (existing.requestHash !== requestHash) {
      throw ApiError.conflict(
        'idempotency_conflict',
        'This Idempotency-Key was already used with a different request body.',
        'Idempotency-Key',
      );
    }
    return existing;
  }

  private blank(
    req: ResolvedCreate,
    now: number,
    cacheKey: string | null,
    idempotencyKey: string | null,
    requestHash: string,
  ): Omit<Job, 'seq'> {
    return {
      id: JobsService.newId(),
      status: 'queued',
      model: req.model,
      params: req.params,
      seedExplicit: req.seedExplicit,
      seconds: req.seconds,
      metadata: req.metadata,
      webhookUrl: req.webhookUrl,
      createdAt: now,
      startedAt: null,
      completedAt: null,
      expiresAt: null,
      progress: 0,
      attempts: 0,
      errorCode: null,
      errorMessage: null,
      cacheKey,
      cached: false,
      idempotencyKey,
      requestHash,
      timings: { queue_s: null, load_s: null, inference_s: null, encode_s: null },
      expired: false,
    };
  }

  async get(id: string): Promise<Job> {
    const job = await this.available(this.store.get(id));
    if (!job) throw ApiError.notFound('video', id);
    return job;
  }

  queuePosition(job: Job): Promise<number | null> {
    return job.status === 'queued' ? this.available(this.store.queuePosition(job.id)) : Promise.resolve(null);
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.available(this.store.list(query));
  }

  cancel(id: string): Promise<Job> {
    return this.available(this.cancelJob(id));
  }

  private async cancelJob(id: string): Promise<Job> {
    const job = await this.get(id);
    if (job.status === 'cancelled') return job;
    if (isTerminal(job.status)) {
      throw ApiError.conflict(
        'invalid_state',
        `Video ${id} is already ${job.status} and cannot be cancelled.`,
        'id',
      );
    }
    const cancelled = await this.scheduler.cancel(job);
    return cancelled ?? (await this.get(id));
  }

  delete(id: string): Promise<void> {
    return this.available(this.deleteJob(id));
  }

  private async deleteJob(id: string): Promise<void> {
    const job = await this.get(id);
    if (!isTerminal(job.status)) await this.scheduler.cancel(job);
    await this.store.delete(id);
    await this.storage.remove(id);
    this.logger.log(`deleted ${id}`);
  }

  /** Resolves with the job once terminal, or as it is when `timeoutMs` passes. */
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

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export function randomSeed(): number {
  return randomInt(0, 2 ** 32 - 1);
}
