import { isTerminal } from '@t2v/contracts';
import { type Job as BullJob, DelayedError, Queue, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';

import type { AppConfig } from '../../config/app-config';
import { MAX_ATTEMPTS } from '../../jobs/job-lifecycle';
import { StoreUnavailable } from '../../jobs/job-store.errors';
import type { Job } from '../../jobs/job.types';
import { type GpuRegistry, jobsRunning } from '../../jobs/gpu-registry';
import type { DispatchContext, JobDispatcher } from '../../jobs/queue-driver';
import { appLogger } from '../../logging/logger';
import type { WorkerSupervisor } from '../../worker-pool/worker-supervisor';
import { closeRedis, redisClient } from './redis-connection';
import type { RedisJobStore } from './redis-job-store';

const QUEUE = 'jobs';
const ENQUEUE_DEADLINE_MS = 600;
/** How soon a delivery whose job may not start yet (a running cap) is tried again. */
const CAPPED_RETRY_MS = 500;

interface LocalRun {
  /** The job it runs (the delivery's own, or the one whose turn it was). */
  jobId: string;
  done: Promise<void>;
  handBack: () => void;
}

/**
 * The redis driver's dispatcher. Records live in Redis (`RedisJobStore`); dispatch goes through
 * a BullMQ queue whose job ids are the record ids. Each replica runs a BullMQ worker with one
 * slot per local GPU worker; BullMQ's lock and stalled-job check hand a dead replica's job to a
 * survivor, which runs it again unless it already had its retry (then INTERRUPTED).
 * The record, not BullMQ, is the truth about a job: BullMQ only says who runs it now.
 *
 * Fair turns: BullMQ hands deliveries out first in, first out, but a delivery runs whichever job's
 * turn it is (the store's claim, docs/adr/0079-fair-queue.md), recorded as that job's `carrier`.
 * A job run under another job's delivery follows that delivery: when it stalls (its replica
 * died) the job is taken over like any other; the job's own delivery, arriving while the carrier
 * runs it, ends at once.
 */
export class RedisDispatcher implements JobDispatcher {
  private readonly logger = appLogger('redis-dispatch');
  private queue: Queue | null = null;
  private worker: Worker | null = null;
  private queueClient: Redis | null = null;
  private workerClient: Redis | null = null;
  private readonly reserved = new Set<WorkerSupervisor>();
  private readonly running = new Map<string, LocalRun>();
  private readonly processing = new Set<Promise<unknown>>();
  private running_ = false;
  private paused = false;
  private stopping = false;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private readonly onPoolState = () => this.followPool();

  constructor(
    private readonly config: Pick<AppConfig, 'redisLockS' | 'devices'>,
    private readonly store: RedisJobStore,
    private readonly registry: GpuRegistry,
    private readonly ctx: DispatchContext,
  ) {}

  private get draining(): boolean {
    return this.ctx.shutdown.draining;
  }

  async start(): Promise<void> {
    const endpoint = this.store.endpoint;
    // Producer: fails fast like the store.
    this.queueClient = redisClient(endpoint, 'command', { lazyConnect: false });
    // Under the store's hash tag: BullMQ's keys share the slot of the records.
    const bullPrefix = `${this.store.keyPrefix}:bull`;
    this.queue = new Queue(QUEUE, { connection: this.queueClient, prefix: bullPrefix });
    this.queue.on('error', () => undefined);
    const lockMs = this.config.redisLockS * 1000;
    const every = Math.max(5000, lockMs);
    this.reconcileTimer = setInterval(() => void this.reconcile(), every);
    this.reconcileTimer.unref();
    // The API tier puts jobs in line and repairs the queue; only processes with workers take jobs.
    if (!this.ctx.takesJobs) return;
    // Worker: BullMQ's blocking reads need no retry limit.
    this.workerClient = redisClient(endpoint, 'blocking', { lazyConnect: false });
    this.worker = new Worker(QUEUE, (job, token) => this.track(this.process(job, token)), {
      connection: this.workerClient,
      prefix: bullPrefix,
      concurrency: Math.max(1, this.config.devices.length),
      autorun: false,
      lockDuration: lockMs,
      stalledInterval: Math.max(500, Math.round(lockMs / 3)),
      // Our record counts attempts; BullMQ only gives up on a job stalled this often.
      maxStalledCount: MAX_ATTEMPTS + 1,
      drainDelay: 1,
    });
    this.worker.on('error', (err) => this.logger.debug({ err }, `bullmq worker: ${err.message}`));
    this.worker.on('failed', (job, err) => void this.onBullFailed(job, err));

    this.ctx.pool.on('state', this.onPoolState);
    this.followPool();
  }

  /** Takes jobs only while a local worker has the model loaded. */
  private followPool(): void {
    if (!this.worker || this.stopping || this.draining) return;
    const loaded = this.ctx.pool.hasLoadedWorker();
    if (loaded && !this.running_) {
      this.running_ = true;
      this.worker
        .run()
        .catch((err: Error) => this.logger.error({ err }, `bullmq worker stopped: ${err.message}`));
    } else if (loaded && this.paused) {
      this.paused = false;
      this.worker.resume();
    } else if (!loaded && this.running_ && !this.paused) {
      this.paused = true;
      this.worker
        .pause(true)
        .catch((err: Error) => this.logger.warn({ err }, `bullmq pause failed: ${err.message}`));
    }
  }

  /** Puts an inserted queued job on the shared queue. Rejects with StoreUnavailable. */
  async accepted(job: Job): Promise<void> {
    await this.enqueue(job);
  }

  private async enqueue(job: Job): Promise<void> {
    try {
      // Bounded: BullMQ waits for its connection to be ready, which during a failover takes
      // seconds; a create must be answered (503) well within a second instead.
      await deadline(
        ENQUEUE_DEADLINE_MS,
        this.queue!.add(
          'generate',
          { id: job.id },
          {
            jobId: job.id,
            // A delivery throws only when Redis itself failed under it (the record's attempts count
            // real runs). During a Sentinel failover the store's connection can be back seconds
            // after BullMQ's: deliveries retried 1 s apart could all fail inside that window, and
            // the job would be failed for an outage it never saw. Backing off 0.5 s, 1 s, 2 s, …
            // over 10 deliveries spans about 4 minutes.
            attempts: 10,
            backoff: { type: 'exponential', delay: 500 },
            removeOnComplete: true,
            removeOnFail: 1000,
          },
        ),
      );
    } catch (err) {
      throw new StoreUnavailable((err as Error).message);
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.processing.add(p);
    void p.finally(() => this.processing.delete(p)).catch(() => undefined);
    return p;
  }

  /** One BullMQ delivery of job `bull.id`. Returning ends it; WaitingError puts it back. */
  private async process(bull: BullJob, token: string | undefined): Promise<string> {
    const id = bull.id!;
    const mine = this.running.get(id);
    if (mine) {
      // Our own lock lapsed (event loop stalled) and BullMQ handed it back to us: one run is enough.
      await mine.done;
      return 'duplicate';
    }
    // An earlier hold of this delivery may have carried another job on a replica that stopped.
    await this.recoverCarried(id);
    const record = await this.store.get(id);
    if (!record || isTerminal(record.status)) return 'gone';
    if (this.draining) return this.backToWait(bull, token);
    if (record.status === 'in_progress') {
      // BullMQ hands a running job out again when its lock lapsed. That means its replica stopped
      // only while no live process reports running it: a Sentinel failover can lose a lock
      // renewal while the run goes on. Ask again once a report of a dead process has expired.
      if (jobsRunning(await this.registry.reports(Date.now())).has(id)) return this.later(bull, token);
      const carrier = record.carrier ?? id;
      // Run under another delivery that is still held: that one follows it.
      if (carrier !== id && (await this.deliveryAlive(carrier))) return 'carried';
      // Its replica stopped mid-run (SIGKILL, node lost): the lifecycle's retry rule decides.
      const retried = await this.ctx.lifecycle.retry(record, {
        reason: 'the replica running it stopped',
        code: 'INTERRUPTED',
      });
      if (retried?.status !== 'queued') return 'interrupted';
      this.logger.warn(
        { job_id: id },
        `taking over ${id}: attempt ${record.attempts} was on a replica that stopped`,
      );
    }
    const worker = await this.reserveWorker();
    if (!worker) return this.backToWait(bull, token);
    try {
      // Whichever job's turn it is, not necessarily this delivery's own.
      const job = await this.ctx.lifecycle.claim(undefined, id);
      if (!job) {
        // Nothing may start now (its caller is at its running cap): ask again shortly.
        if ((await this.store.get(id))?.status === 'queued') {
          await bull.moveToDelayed(Date.now() + CAPPED_RETRY_MS, token);
          throw new DelayedError();
        }
        return 'gone';
      }
      let handBack!: () => void;
      const handedBack = new Promise<'handback'>((resolve) => (handBack = () => resolve('handback')));
      const done = this.ctx.runner.run(worker, job);
      this.running.set(id, { jobId: job.id, done, handBack });
      const how = await Promise.race([done.then(() => 'done' as const), handedBack]);
      if (how === 'handback') {
        // Shutdown grace is over: back to the queue without counting this attempt.
        await this.ctx.lifecycle.handBack(job, 'handed back at shutdown');
        worker.cancel(job.id);
      }
      // A job run under another's delivery and back in the queue (a hand-back, a worker crash's
      // retry) needs a delivery of its own again: its first one ended when it found it carried.
      const after = await this.store.get(job.id);
      if (job.id !== id && after?.status === 'queued') await this.enqueue(after);
      // This delivery's own job waits for its turn (or runs again after a retry).
      const own = job.id === id ? after : await this.store.get(id);
      if (own?.status === 'queued') return this.backToWait(bull, token);
      return 'done';
    } finally {
      this.running.delete(id);
      this.reserved.delete(worker);
    }
  }

  private async later(bull: BullJob, token: string | undefined): Promise<never> {
    await bull.moveToDelayed(Date.now() + Math.max(1000, Math.round(this.registry.ttlMs / 3)), token);
    throw new DelayedError();
  }

  /** Whether a delivery is held by a live replica now (its BullMQ job active, its lock kept). */
  private async deliveryAlive(deliveryId: string): Promise<boolean> {
    if (this.running.has(deliveryId)) return true;
    const bull = await this.queue!.getJob(deliveryId);
    return (await bull?.getState()) === 'active';
  }

  /** Jobs a stopped replica ran under delivery `deliveryId` (delivered again now): the retry rule. */
  private async recoverCarried(deliveryId: string): Promise<void> {
    const carried = (await this.store.byStatus('in_progress')).filter(
      (job) => job.carrier === deliveryId && job.id !== deliveryId,
    );
    if (carried.length === 0) return;
    // Still reported by a live process: the delivery's lock lapsed (a failover), not its replica.
    const live = jobsRunning(await this.registry.reports(Date.now()));
    for (const job of carried) {
      if (live.has(job.id)) continue;
      const retried = await this.ctx.lifecycle.retry(job, {
        reason: 'the replica running it stopped',
        code: 'INTERRUPTED',
      });
      if (retried?.status === 'queued') await this.enqueue(retried);
    }
  }

  private async backToWait(bull: BullJob, token: string | undefined): Promise<never> {
    await bull.moveToWait(token);
    throw new WaitingError();
  }

  /** A READY local worker no other delivery holds, or null once draining. */
  private async reserveWorker(): Promise<WorkerSupervisor | null> {
    for (;;) {
      if (this.draining || this.stopping) return null;
      const worker = this.ctx.pool.workers.find((w) => w.state === 'READY' && !this.reserved.has(w));
      if (worker) {
        this.reserved.add(worker);
        return worker;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * BullMQ gave up on a delivery (stalled too often, or errors on every attempt): the record must
   * not hang. BullMQ also emits `failed` for attempts it will retry: those are left alone.
   */
  private async onBullFailed(bull: BullJob | undefined, err: Error): Promise<void> {
    if (!bull?.id || this.running.has(bull.id)) return;
    try {
      if ((await bull.getState()) !== 'failed') return;
      const record = await this.store.get(bull.id);
      if (record && !isTerminal(record.status)) {
        await this.ctx.lifecycle.fail(record, 'INTERRUPTED', `the queue gave up on it: ${err.message}`);
      }
    } catch (e) {
      this.logger.warn(
        { job_id: bull.id, err: e },
        `could not record the failure of ${bull.id}: ${(e as Error).message}`,
      );
    }
  }

  /**
   * Repairs what a crash between two Redis writes can leave: a queued record with no queue
   * entry (the enqueue after the insert failed) or a running record whose queue entry is gone.
   */
  private async reconcile(): Promise<void> {
    if (this.stopping || !this.queue) return;
    try {
      const now = Date.now();
      const graceMs = Math.max(10_000, this.config.redisLockS * 2000);
      for (const record of (await this.store.byStatus('queued')).slice(0, 1000)) {
        if (now - record.createdAt < graceMs) continue;
        const bull = await this.queue.getJob(record.id);
        const state = bull ? await bull.getState() : 'missing';
        if (state === 'failed' || state === 'completed') await bull!.remove();
        if (state === 'missing' || state === 'failed' || state === 'completed') {
          this.logger.warn({ job_id: record.id }, `re-enqueued ${record.id} (queue entry ${state})`);
          await this.enqueue(record);
        }
      }
      const live = jobsRunning(await this.registry.reports(now));
      const local = new Set([...this.running.values()].map((r) => r.jobId));
      for (const record of await this.store.byStatus('in_progress')) {
        if (local.has(record.id) || live.has(record.id) || now - (record.startedAt ?? 0) < graceMs) continue;
        // A job runs under its carrier's delivery: that one says whether its run is alive.
        const bull = await this.queue.getJob(record.carrier ?? record.id);
        const state = bull ? await bull.getState() : 'missing';
        if (state !== 'missing' && state !== 'failed' && state !== 'completed') continue;
        const retried = await this.ctx.lifecycle.retry(record, {
          reason: 'its run was lost',
          code: 'INTERRUPTED',
        });
        if (retried?.status === 'queued') {
          // Its own entry, if one is left over, makes way for a fresh one.
          const own =
            record.carrier && record.carrier !== record.id ? await this.queue.getJob(record.id) : bull;
          const ownState = own ? await own.getState() : 'missing';
          if (own && (ownState === 'failed' || ownState === 'completed')) await own.remove();
          await this.enqueue(record);
        }
      }
    } catch (err) {
      this.logger.debug({ err }, `reconcile skipped: ${(err as Error).message}`);
    }
  }

  async drain(graceMs: number): Promise<void> {
    // Bounded: with Redis down, BullMQ calls may wait for a reconnect that never comes.
    if (this.worker && this.running_) await bounded(this.worker.pause(true), 2000);
    const runs = [...this.running.values()];
    await Promise.race([Promise.allSettled(runs.map((r) => r.done)), sleep(graceMs)]);
    for (const run of this.running.values()) run.handBack();
    await Promise.race([Promise.allSettled([...this.processing]), sleep(5000)]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.ctx.pool.off('state', this.onPoolState);
    if (this.worker) {
      // Graceful close lets BullMQ finish its bookkeeping; pointless while Redis is unreachable.
      if (this.workerClient?.status === 'ready') await bounded(this.worker.close(), 5000);
      await bounded(this.worker.close(true), 2000);
    }
    await bounded(this.queue?.close(), 2000);
    for (const client of [this.queueClient, this.workerClient]) if (client) await closeRedis(client);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** `p`, or a rejection once `ms` have passed. */
function deadline<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Waits for `p` at most `ms`, ignoring its failure. */
async function bounded(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  await Promise.race([Promise.resolve(p).catch(() => undefined), sleep(ms)]);
}
