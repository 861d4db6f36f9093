/**
 * Refusals a store may answer `insert` with. The embedded store decides the first with its unique
 * index; the redis store decides all of them inside one Lua script, so they hold across replicas.
 */

/** Another job already holds this Idempotency-Key. */
export class IdempotencyKeyTaken extends Error {
  constructor(readonly existingId: string | null) {
    super('idempotency key already used');
  }
}

/** The shared queue already holds `T2V_MAX_QUEUE` queued jobs. */
export class QueueFull extends Error {
  constructor(readonly queued: number) {
    super(`queue full (${queued} queued)`);
  }
}

/** An identical cacheable job is queued or running: attach to it instead of inserting. */
export class IdenticalJobActive extends Error {
  constructor(readonly existingId: string) {
    super(`identical job ${existingId} is in flight`);
  }
}

/** The backend does not answer (Redis down, unreachable or too slow). Callers answer 503. */
export class StoreUnavailable extends Error {
  constructor(readonly reason: string) {
    super(`job store unavailable: ${reason}`);
  }
}

/**
 * The durability rule `replicas`: too few replicas confirmed the write in time (none reachable,
 * or lagging). The write was taken back; callers answer 503 like any unavailable store.
 */
export class NotDurable extends StoreUnavailable {
  constructor(
    readonly replicas: number,
    readonly timeoutMs: number,
  ) {
    super(`fewer than ${replicas} Redis replica(s) confirmed the write within ${timeoutMs} ms`);
  }
}

/** The caller already has as many jobs as its key's cap allows (`cap` names which). */
export class CallerCapReached extends Error {
  constructor(
    readonly caller: string,
    readonly cap: 'max_queued',
    readonly limit: number,
  ) {
    super(`${caller} has ${limit} queued jobs, its ${cap}`);
  }
}
