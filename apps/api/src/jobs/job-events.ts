import { EventEmitter } from 'node:events';

import { Inject, Injectable } from '@nestjs/common';

import type { Job } from './job.types';
import { type QueueDriver, QUEUE_DRIVER } from './queue-driver';

/**
 * Fan-out of job changes, keyed by job id (SSE streams, `Prefer: wait`, /generate). A change
 * made here goes to this process' subscribers and, through the driver's transport, to the other
 * replicas, whose changes arrive back here.
 */
@Injectable()
export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  constructor(@Inject(QUEUE_DRIVER) private readonly driver: Pick<QueueDriver, 'transport'>) {
    driver.transport.onJob((job) => this.deliver(job));
  }

  /** Announces a change made by this process, here and on the other replicas. */
  publish(job: Job): void {
    this.deliver(job);
    this.driver.transport.publish(job);
  }

  private deliver(job: Job): void {
    this.emitter.emit(job.id, job);
  }

  /** Calls `listener` on each change of job `id`; returns the unsubscribe function. */
  subscribe(id: string, listener: (job: Job) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }
}
