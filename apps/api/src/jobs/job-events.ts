import { EventEmitter } from 'node:events';

import { Injectable } from '@nestjs/common';

import type { Job } from './job.types';

const SETTLED = Symbol('settled');

/** In-process fan-out of job changes, keyed by job id (SSE streams, `Prefer: wait`, /generate). */
@Injectable()
export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  publish(job: Job): void {
    this.emitter.emit(job.id, job);
    this.emitter.emit('*', job);
  }

  /**
   * Announces that this process moved `job` into a terminal state. Called exactly once per job,
   * by the process that made the transition (webhooks hang on this, so they go out once).
   */
  settled(job: Job): void {
    this.publish(job);
    this.emitter.emit(SETTLED, job);
  }

  onSettled(listener: (job: Job) => void): () => void {
    this.emitter.on(SETTLED, listener);
    return () => this.emitter.off(SETTLED, listener);
  }

  /** Calls `listener` on each change of job `id`; returns the unsubscribe function. */
  subscribe(id: string, listener: (job: Job) => void): () => void {
    this.emitter.on(id, listener);
    return () => this.emitter.off(id, listener);
  }
}
