import type { JobStatus } from '@t2v/contracts';

import type { Job, JobPatch, ListPage, ListQuery } from './job.types';
import type { ShapeTiming } from './estimates';
import type { UsageRecord } from './usage';

/**
 * A webhook owed to a receiver because of a status change. The lifecycle hands it to the store
 * with the change itself, so both are committed together or not at all: a restart between the
 * two can neither lose the delivery nor announce a change that did not happen.
 */
export interface OutboxIntent {
  /** The Standard Webhooks `webhook-id`: stable across retries, so receivers can dedupe. */
  id: string;
  event: 'video.completed' | 'video.failed' | 'video.cancelled';
  url: string;
  /** When the change happened (unix ms): the event's timestamp and its first due time. */
  at: number;
}

/** An outbox entry as the delivery service works it: the intent and the job as it was committed. */
export interface OutboxDelivery extends OutboxIntent {
  job: Job;
  /** Attempts made so far. */
  attempts: number;
}

/**
 * Durable job records, the queue order and the webhook outbox. One interface, one contract test
 * suite (`job-store.contract.ts`), run against every driver.
 */
export interface JobStore {
  /** Which queue driver keeps these records (readiness names it). */
  readonly driver: 'embedded' | 'redis';
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * Inserts a new job and returns it with its sequence number (with `outbox`, the delivery is
   * committed with it). A queued job gets its fair turn (`turn`, jobs/fair-queue.ts) in the same
   * step. Rejects with IdempotencyKeyTaken when its key is held by another job, CallerCapReached
   * when its caller has as many queued jobs as its cap allows; a shared store may also refuse with
   * QueueFull or IdenticalJobActive (`job-store.errors.ts`). A job inserted ended (a cached copy)
   * has its usage recorded in the same commit.
   */
  insert(job: Omit<Job, 'seq'>, outbox?: OutboxIntent): Promise<Job>;
  get(id: string): Promise<Job | null>;
  /** Marks a completed job's outputs as removed (expiry); the only change that is not a transition. */
  markExpired(id: string): Promise<Job | null>;
  /**
   * Moves a job to `to` only if it is currently in one of `from`. Returns the job if it moved.
   * With `outbox`, the delivery is committed in the same write, only if the job moved. A move to
   * an end (completed, failed, cancelled) records the job's usage (`usage.ts`) in the same write.
   * Only the lifecycle (`jobs/job-lifecycle.ts`) calls this.
   */
  transition(
    id: string,
    from: JobStatus[],
    to: JobStatus,
    patch?: JobPatch,
    outbox?: OutboxIntent,
  ): Promise<Job | null>;
  delete(id: string): Promise<boolean>;
  list(query: ListQuery): Promise<ListPage>;
  count(status: JobStatus): Promise<number>;
  /** 1-based position in the fair queue's order (the order claims take), or null if not queued. */
  queuePosition(id: string): Promise<number | null>;
  /**
   * Atomically takes a queued job for a run: the one with `id`, or without `id` the next in fair
   * order whose caller is below its running cap. It becomes in_progress, started at `now`, with
   * one more attempt (and `carrier`, the shared queue's delivery it runs under, when given); the
   * queue's virtual time moves to its turn. Null when there is no such queued job. Only the
   * lifecycle calls this.
   */
  claim(now: number, id?: string, carrier?: string): Promise<Job | null>;
  /** Usage records of jobs that ended in [from, to) (unix ms), oldest first. */
  usage(from: number, to: number): Promise<UsageRecord[]>;
  /** The learned run timings, by job shape (jobs/estimates.ts). */
  timings(): Promise<Record<string, ShapeTiming>>;
  /** Stores what was learned about one shape (last writer wins). */
  saveTiming(key: string, timing: ShapeTiming): Promise<void>;
  byStatus(status: JobStatus): Promise<Job[]>;
  findByIdempotencyKey(key: string): Promise<Job | null>;
  /** A completed, unexpired job with this cache key, if any. */
  findCompletedByCacheKey(cacheKey: string): Promise<Job | null>;
  /** A queued or in-progress job with this cache key, if any. */
  findActiveByCacheKey(cacheKey: string): Promise<Job | null>;
  /** Completed jobs whose outputs expired before `now` and are not marked expired yet. */
  findExpired(now: number): Promise<Job[]>;
  /**
   * Outbox entries due at `now`, at most `limit`, each leased for `leaseMs`: until the lease
   * ends no other caller (on any replica) gets the same entry.
   */
  claimDeliveries(now: number, leaseMs: number, limit: number): Promise<OutboxDelivery[]>;
  /** Puts a claimed entry back, due at `dueAt`, with its attempt count. */
  rescheduleDelivery(id: string, dueAt: number, attempts: number): Promise<void>;
  /** Removes a delivered (or abandoned) entry. */
  removeDelivery(id: string): Promise<void>;
  /** Cheap probe of the backend; rejects with the reason it cannot hold jobs safely. */
  ping(): Promise<void>;
}

export const JOB_STORE = Symbol('JOB_STORE');
