import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';

import { JobsModule } from '../jobs/jobs.module';
import { StorageModule } from '../storage/storage.module';
import { WorkerPoolModule } from '../worker-pool/worker-pool.module';
import { HealthController } from './health.controller';

/** /healthz (the process serves) and /readyz (it can take and run jobs). */
@Module({
  imports: [
    TerminusModule.forRoot({ errorLogStyle: 'json', logger: false }),
    JobsModule,
    StorageModule,
    WorkerPoolModule,
  ],
  controllers: [HealthController],
})
export class HealthModule {}
