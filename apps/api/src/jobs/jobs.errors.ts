/**
 * What job operations refuse with, in domain terms. They know nothing of HTTP: the exception
 * filter (`common/http-exception.filter.ts`) gives each its status, envelope and Retry-After.
 * The store's own refusals (`job-store.errors.ts`, e.g. StoreUnavailable) are mapped there too.
 */

/** No job with this id. */
export class JobNotFound extends Error {
  constructor(readonly id: string) {
    super(`No video found with id '${id}'.`);
  }
}

/** The queue holds as many waiting jobs as it may; retrying after `retryAfterS` may succeed. */
export class QueueIsFull extends Error {
  constructor(
    readonly queued: number,
    readonly retryAfterS: number,
  ) {
    super(`The queue is full (${queued} jobs waiting); retry later.`);
  }
}

/** The caller has as many queued jobs as its key's `max_queued` allows; retrying later may succeed. */
export class CallerCapFull extends Error {
  constructor(
    readonly caller: string,
    readonly limit: number,
    readonly retryAfterS: number,
  ) {
    super(
      `${caller} already has ${limit} queued jobs, the max_queued of its API key; retry once one of them starts.`,
    );
  }
}

/** This process is draining before it stops: another replica can take the request. */
export class ShuttingDown extends Error {
  constructor() {
    super('The server is shutting down; retry on another replica.');
  }
}

/** Nothing in the deployment can run a job: every GPU worker failed permanently (`reason` says why). */
export class NoWorkerCanRun extends Error {
  constructor(reason: string) {
    super(`No job can run now: ${reason}. See /readyz.`);
  }
}

/** The Idempotency-Key was already used with a different request. */
export class IdempotencyConflict extends Error {
  constructor() {
    super('This Idempotency-Key was already used with a different request body.');
  }
}

/** The job is in a state that does not allow the operation (`reason` says which). */
export class InvalidJobState extends Error {
  constructor(
    readonly reason: 'not_cancellable' | 'not_ready' | 'cancelled',
    message: string,
  ) {
    super(message);
  }
}

/** The job's outputs are gone (expired and deleted, or missing on the volume). */
export class OutputGone extends Error {
  constructor(message: string) {
    super(message);
  }
}

/** A job ran and failed (create-and-wait callers answer it as a server-side failure). */
export class JobFailed extends Error {
  constructor(message: string) {
    super(message);
  }
}
