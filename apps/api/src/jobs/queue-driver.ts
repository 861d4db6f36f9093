import type { ThrottlerStorage } from '@nestjs/throttler';

import type { GpuRegistry } from './gpu-registry';
import type { JobRunner } from './job-runner';
import type { JobLifecycle } from './job-lifecycle';
import type { JobStore } from './job-store';
import type { Job } from './job.types';
import type { ShutdownState } from './shutdown.service';
import type { WorkerPoolService } from '../worker-pool/worker-pool.service';

/**
 * Carries what one replica must tell the others: every job change (so SSE streams and waits on
 * any replica follow a job that runs elsewhere) and cancel requests for running jobs. With one
 * process (the embedded driver) there is no one to tell.
 */
export interface JobTransport {
  publish(job: Job): void;
  cancel(jobId: string): void;
  /** Registers the receiver of changes made on other replicas. */
  onJob(listener: (job: Job) => void): void;
  /** Registers the receiver of cancel requests made on other replicas. */
  onCancel(listener: (jobId: string) => void): void;
}

/** What a dispatcher is given to run jobs with. */
export interface DispatchContext {
  runner: JobRunner;
  lifecycle: JobLifecycle;
  pool: WorkerPoolService;
  shutdown: ShutdownState;
  /** False in the API tier (`T2V_ROLE=api`): jobs are put in line, never taken from it here. */
  takesJobs: boolean;
}

/** Takes queued jobs in order and runs them on free local workers. */
export interface JobDispatcher {
  /** Starts dispatching (after the store is open and the workers are starting). */
  start(): Promise<void>;
  /** A new queued job was inserted: put it in line (the shared queue) or look for a worker now. */
  accepted(job: Job): Promise<void>;
  /** Stops taking jobs; waits up to `graceMs` for running ones, then hands the rest back. */
  drain(graceMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A queue driver: where job records live, how jobs reach workers, how replicas hear of each
 * other's changes. `queue/queue-driver.factory.ts` picks one from the configuration; nothing
 * else names a driver.
 */
export interface QueueDriver {
  readonly name: 'embedded' | 'redis';
  readonly store: JobStore;
  readonly transport: JobTransport;
  /** The GPU workers of every process and the model card they serve. */
  readonly registry: GpuRegistry;
  /** Whether other processes write into the output directory too (stray temp files may be theirs). */
  readonly sharedOutputs: boolean;
  /** Rate-limit counters shared by every replica, or undefined to count in process. */
  throttlerStorage(): ThrottlerStorage | undefined;
  createDispatcher(context: DispatchContext): JobDispatcher;
  /** Opens the store and the transport. */
  open(): Promise<void>;
  /** Resolves once `open` has succeeded: the store and the registry may be used from then on. */
  whenOpen(): Promise<void>;
  /** Closes every connection the driver holds. */
  close(): Promise<void>;
}

export const QUEUE_DRIVER = Symbol('QUEUE_DRIVER');
export const JOB_DISPATCHER = Symbol('JOB_DISPATCHER');

/** A promise and the function that resolves it (drivers use one for `whenOpen`). */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
