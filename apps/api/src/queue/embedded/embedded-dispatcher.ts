import type { JobStore } from '../../jobs/job-store';
import type { Job } from '../../jobs/job.types';
import type { DispatchContext, JobDispatcher } from '../../jobs/queue-driver';
import { appLogger } from '../../logging/logger';

/**
 * The embedded driver's dispatcher: the store's fair order onto free worker slots, in
 * this process. At start, jobs a previous process left running go back to the queue once.
 */
export class EmbeddedDispatcher implements JobDispatcher {
  private readonly logger = appLogger('dispatch');
  private pumping = false;
  private pumpAgain = false;
  private readonly running = new Map<string, Promise<void>>();
  private readonly onAvailable = () => this.kick();

  constructor(
    private readonly store: JobStore,
    private readonly ctx: DispatchContext,
  ) {}

  async start(): Promise<void> {
    await this.recover();
    this.ctx.pool.on('available', this.onAvailable);
    this.kick();
  }

  /** Jobs that were running when the process stopped: the lifecycle's retry rule (again once, then fail). */
  private async recover(): Promise<void> {
    for (const job of await this.store.byStatus('in_progress')) {
      await this.ctx.lifecycle.retry(job, { reason: 'interrupted by a restart', code: 'INTERRUPTED' });
    }
  }

  async accepted(_job: Job): Promise<void> {
    // After the caller has announced the job: its first event is `queued`, then `in_progress`.
    setImmediate(() => this.kick());
  }

  private kick(): void {
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
        while (!this.ctx.shutdown.draining) {
          const worker = this.ctx.pool.acquire();
          if (!worker) break;
          const job = await this.ctx.lifecycle.claim();
          if (!job) break;
          const run = this.ctx.runner
            .run(worker, job)
            .finally(() => this.running.delete(job.id))
            .then(() => this.kick());
          this.running.set(job.id, run);
        }
      } while (this.pumpAgain);
    } catch (err) {
      this.logger.error({ err }, `dispatch failed: ${(err as Error).message}`);
    } finally {
      this.pumping = false;
    }
  }

  async drain(graceMs: number): Promise<void> {
    const all = Promise.allSettled([...this.running.values()]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
  }

  async stop(): Promise<void> {
    this.ctx.pool.off('available', this.onAvailable);
  }
}
