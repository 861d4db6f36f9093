import { Module } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { StorageModule } from '../storage/storage.module';
import { WorkerPoolModule } from '../worker-pool/worker-pool.module';
import { CapacityService } from './capacity.service';
import { DispatchService } from './dispatch.service';
import { EstimateService } from './estimates';
import { JobEvents } from './job-events';
import { JobLifecycle, OutboxSignal } from './job-lifecycle';
import { JobRunner } from './job-runner';
import { JobsService } from './jobs.service';
import { OutputExpiryService } from './output-expiry.service';
import { JOB_DISPATCHER, QUEUE_DRIVER, type QueueDriver } from './queue-driver';
import { QueueGauges } from './queue-gauges';
import { ShutdownService } from './shutdown.service';
import { WorkerPoolService } from '../worker-pool/worker-pool.service';

/**
 * Jobs: semantics (JobsService), every status change (JobLifecycle), running one job
 * (JobRunner), dispatch through the configured driver, the GPU capacity of the deployment
 * (CapacityService), expiry, the queue gauges and the shutdown state. The driver comes from the
 * global QueueDriverModule.
 */
@Module({
  imports: [StorageModule, WorkerPoolModule],
  providers: [
    JobEvents,
    OutboxSignal,
    JobLifecycle,
    JobRunner,
    ShutdownService,
    {
      provide: JOB_DISPATCHER,
      inject: [APP_CONFIG, QUEUE_DRIVER, JobRunner, JobLifecycle, WorkerPoolService, ShutdownService],
      useFactory: (
        config: AppConfig,
        driver: QueueDriver,
        runner: JobRunner,
        lifecycle: JobLifecycle,
        pool: WorkerPoolService,
        shutdown: ShutdownService,
      ) => driver.createDispatcher({ runner, lifecycle, pool, shutdown, takesJobs: config.role !== 'api' }),
    },
    CapacityService,
    EstimateService,
    DispatchService,
    JobsService,
    OutputExpiryService,
    QueueGauges,
  ],
  exports: [
    JobsService,
    JobEvents,
    OutboxSignal,
    ShutdownService,
    DispatchService,
    CapacityService,
    EstimateService,
  ],
})
export class JobsModule {}
