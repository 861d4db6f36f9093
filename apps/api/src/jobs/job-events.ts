import { EventEmitter } from 'node:events';

import { Injectable } from '@nestjs/common';

import type { Job } from './job.types';

const SETTLED = Symbol('settled');

/** Carries job changes to the other replicas (the redis driver's pub/sub). */
export interface JobEventTransport {
  publish(job: Job): void;
}

/**
 * Fan-out of job changes, keyed by job id (SSE streams, `Prefer: wait`, /generate). In-process;
 * with a transport attached (redis driver) every change also reaches subscribers on the other
 * replicas, which hand it to `deliver`. `settled` stays local: it fires only where the
 * transition was made.
 */
@Injectable()
export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private transport: JobEventTransport | null = null;

  attachTransport(transport: JobEventTransport | null): void {
    this.transport = transport;
  }

  publish(job: Job): void {
    this.deliver(job);
    this.transport?.publish(job);
  }

  /** Hands a change to this process' subscribers only (remote changes arrive here). */
  deliver(job: Job): void {
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
