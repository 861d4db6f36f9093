import { Inject, Injectable } from '@nestjs/common';
import type { GenerateRequest } from '@t2v/contracts';

import { appLogger } from '../logging/logger';
import { OUTPUT_STORE, type OutputStore, StorageFailed } from '../storage/output-store';
import { WorkerPoolService } from '../worker-pool/worker-pool.service';
import type { RunOutcome, WorkerSupervisor } from '../worker-pool/worker-supervisor';
import { EstimateService } from './estimates';
import { JobEvents } from './job-events';
import { JobLifecycle } from './job-lifecycle';
import { JOB_STORE, type JobStore } from './job-store';
import { StoreUnavailable } from './job-store.errors';
import type { Job } from './job.types';
import { QUEUE_DRIVER, type QueueDriver } from './queue-driver';
import { ShutdownService } from './shutdown.service';

/**
 * Runs one claimed job on one worker and records the outcome through the lifecycle. Knows
 * nothing of how the job was dispatched: both drivers' dispatchers call `run`.
 */
@Injectable()
export class JobRunner {
  private readonly logger = appLogger('runner');

  constructor(
    @Inject(JOB_STORE) private readonly store: JobStore,
    @Inject(QUEUE_DRIVER) private readonly driver: Pick<QueueDriver, 'transport'>,
    private readonly lifecycle: JobLifecycle,
    @Inject(OUTPUT_STORE) private readonly outputs: OutputStore,
    private readonly pool: WorkerPoolService,
    private readonly shutdown: ShutdownService,
    private readonly estimates: EstimateService,
    private readonly events: JobEvents,
  ) {
    // Another replica was asked to cancel a job this one runs.
    driver.transport.onCancel((id) => this.pool.find(id)?.cancel(id));
  }

  /** Asks whichever worker runs `jobId`, here or on another replica, to stop within a step. */
  stop(jobId: string): void {
    this.pool.find(jobId)?.cancel(jobId);
    this.driver.transport.cancel(jobId);
  }

  /** Runs a claimed job on `worker` and records the outcome. Never rejects. */
  async run(worker: WorkerSupervisor, job: Job): Promise<void> {
    const image = job.params.image ?? null;
    const request: GenerateRequest = {
      type: 'generate',
      job_id: job.id,
      // A record stored before `acceleration`, `image` or `loras` existed asks for the defaults.
      params: {
        ...job.params,
        acceleration: job.params.acceleration ?? 'auto',
        // The record has the image's content; its file is where this replica sees the job's files.
        image: image && { ...image, path: this.outputs.pathFor(job.id, 'input') },
        loras: job.params.loras ?? [],
        preview: job.params.preview ?? true,
      },
      out_path: this.outputs.pathFor(job.id, 'video'),
      thumbnail_path: this.outputs.pathFor(job.id, 'thumbnail'),
    };
    // Every line about this run carries the job's id (the worker's own output too: the supervisor).
    const log = this.logger.child({ job_id: job.id, worker: worker.spec?.id });
    log.info(`running on worker ${worker.spec?.id} (attempt ${job.attempts})`);
    let lastProgress = -1;
    // Hand the job over before any await: runJob marks the worker BUSY synchronously, so the
    // dispatch loop cannot give the same worker a second job.
    const running = worker.runJob(
      request,
      (step, total) => {
        const progress = Math.min(99, Math.floor((step / total) * 100));
        if (progress === lastProgress) return;
        lastProgress = progress;
        this.lifecycle.progress(job, progress);
      },
      (preview) =>
        this.events.publishPreview({
          jobId: job.id,
          step: preview.step,
          total: preview.total,
          mime: preview.mime,
          width: preview.width,
          height: preview.height,
          createdAt: Math.floor(Date.now() / 1000),
          data: Buffer.from(preview.data, 'base64'),
        }),
      // With a bucket, the input image is fetched into scratch while the worker is held for the job.
      image ? () => this.outputs.stageInput(job.id) : undefined,
    );
    try {
      await this.lifecycle.started(job, worker.ready?.load_s ?? null);
    } catch (err) {
      log.warn({ err }, `start of ${job.id} not recorded: ${(err as Error).message}`);
    }
    const outcome = await running;
    // A shared store may be briefly unreachable (Redis restarting): keep the outcome and retry.
    for (let tries = 1; ; tries++) {
      try {
        await this.settle(job, outcome);
        return;
      } catch (err) {
        if (err instanceof StoreUnavailable && tries < 120 && !this.shutdown.draining) {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        log.error({ err }, `could not record the outcome of ${job.id}: ${(err as Error).message}`);
        return;
      }
    }
  }

  private async settle(job: Job, outcome: RunOutcome): Promise<void> {
    const current = await this.store.get(job.id);
    const sameRun = current?.attempts === job.attempts && current.startedAt === job.startedAt;
    if (!current || current.status !== 'in_progress' || !sameRun) {
      // Cancelled or deleted while running: whatever the worker produced is not wanted. Any other
      // state belongs to another run of this job (taken over, handed back, already completed:
      // the same output path), which this outcome must not touch.
      if (outcome.kind === 'done' && (!current || current.status === 'cancelled'))
        await this.outputs.remove(job.id);
      return;
    }
    switch (outcome.kind) {
      case 'done': {
        // Completed only once the outputs are where every replica reads them (a bucket: uploaded,
        // retried with backoff, confirmed); a job is never completed without its file.
        try {
          await this.outputs.publish(job.id);
        } catch (err) {
          if (!(err instanceof StorageFailed)) throw err;
          await this.lifecycle.fail(current, 'STORAGE_ERROR', err.message);
          // Scratch goes; an object the store may still hold is left to its lifecycle rule.
          await this.outputs.remove(job.id).catch((e: Error) => {
            this.logger.warn({ err: e, job_id: job.id }, `outputs of ${job.id} not removed: ${e.message}`);
          });
          return;
        }
        const { inference_s, encode_s } = outcome.event.timings;
        const done = await this.lifecycle.complete(current, {
          inference_s,
          encode_s,
          acceleration: outcome.event.acceleration ?? null,
        });
        if (done) await this.estimates.learn(done);
        return;
      }
      case 'error':
        if (outcome.code === 'CANCELLED') await this.lifecycle.cancel(current);
        else await this.lifecycle.fail(current, outcome.code, outcome.message);
        return;
      case 'timeout':
        // Not retried: it would run as long again.
        await this.lifecycle.fail(current, 'WORKER_TIMEOUT', outcome.reason);
        return;
      case 'crashed':
        await this.lifecycle.retry(current, {
          reason: `worker crashed: ${outcome.reason}`,
          code: 'WORKER_CRASHED',
        });
        return;
    }
  }
}
