import { EventEmitter } from 'node:events';

import { Injectable } from '@nestjs/common';

import type { Job } from './job.types';

/** In-process fan-out of job changes, keyed by job id (SSE streams, `Prefer: wait`, /generate). */
@Injectable()
export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(job: Job): void {
    this.emitter.emit(job.id, job);
    this.emitter.emit('*', job);
  }

  /** Calls `listener` on each change of job `id`; returns the unsubscribe function. */
  subscribe(id: string, listener: (job: Job) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }
}
