import { EventEmitter } from 'node:events';

import { Injectable } from '@nestjs/common';

import { appLogger } from '../logging/logger';

/** What readers see of the shutdown: whether this process is draining. */
export interface ShutdownState {
  readonly draining: boolean;
}

/**
 * Whether this process is draining before it stops. Written once, by `begin` (SIGTERM in
 * main.ts); read by readiness (503 from then on), the job service (refuses new jobs) and the
 * dispatchers (take no more jobs). Emits `draining` once, when it begins (the capacity report
 * says so at once: a GPU pod being scaled in is no longer capacity).
 */
@Injectable()
export class ShutdownService extends EventEmitter implements ShutdownState {
  private readonly logger = appLogger('shutdown');
  private state = false;

  get draining(): boolean {
    return this.state;
  }

  begin(reason: string): void {
    if (this.state) return;
    this.state = true;
    this.logger.info(`draining: ${reason}`);
    this.emit('draining');
  }
}
