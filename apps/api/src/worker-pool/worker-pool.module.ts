import { Module } from '@nestjs/common';

import { WorkerMetricsService } from './worker-metrics.service';
import { WorkerPoolService } from './worker-pool.service';

/** The supervised engine workers of this process, and their metrics. Knows nothing of queues. */
@Module({ providers: [WorkerPoolService, WorkerMetricsService], exports: [WorkerPoolService] })
export class WorkerPoolModule {}
