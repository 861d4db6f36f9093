import type { JobStatus } from '@t2v/contracts';

import type { Job, JobPatch, ListPage, ListQuery } from './job.types';

/**
 * Durable job records and the queue order. One interface, one contract test suite
 * (`job-store.contract.ts`), run against every driver.
 */
export interface JobStore {
  /** Which queue driver keeps these records (readiness names it). */
  readonly driver: 'embedded' | 'redis';
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * Inserts a new job and returns it with its sequence number. Rejects with IdempotencyKeyTaken
   * when its key is held by another job; a shared store may also refuse with QueueFull or
   * IdenticalJobActive (`job-store.errors.ts`).
   */
  insert(job: Omit<Job, 'seq'>): Promise<Job>;
  get(id: string): Promise<Job | null>;
  update(id: string, patch: JobPatch): Promise<Job | null>;
  /** Moves a job to `to` only if it is currently in one of `from`. Returns the job if it moved. */
  transition(id: string, from: JobStatus[], to: JobStatus, patch?: JobPatch): Promise<Job | null>;
  delete(id: string): Promise<boolean>;
  list(query: ListQuery): Promise<ListPage>;
  count(status: JobStatus): Promise<number>;
  /** 1-based position among queued jobs, or null if not queued. */
  queuePosition(id: string): Promise<number | null>;
  /** Atomically takes the oldest queued job and marks it in_progress. */
  claimNext(now: number): Promise<Job | null>;
  byStatus(status: JobStatus): Promise<Job[]>;
  findByIdempotencyKey(key: string): Promise<Job | null>;
  /** A completed, unexpired job with this cache key, if any. */
  findCompletedByCacheKey(cacheKey: string): Promise<Job | null>;
  /** A queued or in-progress job with this cache key, if any. */
  findActiveByCacheKey(cacheKey: string): Promise<Job | null>;
  /** Completed jobs whose outputs expired before `now` and are not marked expired yet. */
  findExpired(now: number): Promise<Job[]>;
  /** Cheap probe of the backend; rejects with the reason it cannot hold jobs safely. */
  ping(): Promise<void>;
}

export const JOB_STORE = Symbol('JOB_STORE');
