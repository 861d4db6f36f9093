import { type DynamicModule, Module } from '@nestjs/common';

import type { AppConfig } from '../config/app-config';
import { JOB_STORE } from '../jobs/job-store';
import { QUEUE_DRIVER, type QueueDriver } from '../jobs/queue-driver';
import { createQueueDriver } from './queue-driver.factory';

/**
 * Provides the configured queue driver and its store to every module (global): the job module,
 * webhooks (the outbox), health (the queue check) and rate limits depend on the port types in
 * `jobs/`, never on a driver.
 */
@Module({})
export class QueueDriverModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: QueueDriverModule,
      global: true,
      providers: [
        { provide: QUEUE_DRIVER, useFactory: () => createQueueDriver(config) },
        { provide: JOB_STORE, useFactory: (driver: QueueDriver) => driver.store, inject: [QUEUE_DRIVER] },
      ],
      exports: [QUEUE_DRIVER, JOB_STORE],
    };
  }
}
