import { EventEmitter } from 'node:events';

import { Inject, Injectable, Optional } from '@nestjs/common';

import type { Job } from './job.types';
import { type Preview, PreviewStore } from './preview-store';
import { type QueueDriver, QUEUE_DRIVER } from './queue-driver';

/** Default bound of the previews held in memory (T2V_PREVIEW_MEMORY_MB). */
export const PREVIEW_STORE_BYTES = 64 * 1024 * 1024;
export const PREVIEW_STORE = Symbol('PREVIEW_STORE');

/**
 * Fan-out of job changes and live previews, keyed by job id (SSE streams, `Prefer: wait`,
 * /generate, the preview variant of the content route). A change
 * made here goes to this process' subscribers and, through the driver's transport, to the other
 * replicas, whose changes arrive back here.
 */
@Injectable()
export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  constructor(
    @Inject(QUEUE_DRIVER) private readonly driver: Pick<QueueDriver, 'transport'>,
    @Optional()
    @Inject(PREVIEW_STORE)
    readonly previews: PreviewStore = new PreviewStore(PREVIEW_STORE_BYTES),
  ) {
    driver.transport.onJob((job) => this.deliver(job));
    driver.transport.onPreview?.((preview) => this.deliverPreview(preview));
  }

  /** Announces a change made by this process, here and on the other replicas. */
  publish(job: Job): void {
    this.deliver(job);
    this.driver.transport.publish(job);
  }

  private deliver(job: Job): void {
    // A preview shows a run in progress: gone once the job ends or is handed back.
    if (job.status !== 'in_progress') this.previews.drop(job.id);
    this.emitter.emit(job.id, job);
  }

  /** Announces a live preview of a job running here, here and on the other replicas. */
  publishPreview(preview: Preview): void {
    this.deliverPreview(preview);
    this.driver.transport.publishPreview?.(preview);
  }

  private deliverPreview(preview: Preview): void {
    if (this.previews.put(preview)) this.emitter.emit(`${preview.jobId}\0preview`, preview);
  }

  /** Calls `listener` with each new preview of job `id`; returns the unsubscribe function. */
  subscribePreviews(id: string, listener: (preview: Preview) => void): () => void {
    this.emitter.on(`${id}\0preview`, listener);
    return () => this.emitter.off(`${id}\0preview`, listener);
  }

  /** Calls `listener` on each change of job `id`; returns the unsubscribe function. */
  subscribe(id: string, listener: (job: Job) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }
}
