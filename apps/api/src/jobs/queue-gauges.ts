import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';

import { METRIC } from '../metrics/metrics';
import { JOB_STORE, type JobStore } from './job-store';

type Collectable = Gauge<string> & { collect?: () => Promise<void> };

/**
 * Queue depth and jobs in progress, read from the store at each scrape: with several replicas
 * every one reports the same figures, and none can drift from the records.
 */
@Injectable()
export class QueueGauges implements OnModuleInit {
  constructor(
    @Inject(JOB_STORE) private readonly store: JobStore,
    @InjectMetric(METRIC.queueDepth) private readonly queueDepth: Gauge<string>,
    @InjectMetric(METRIC.jobsInProgress) private readonly inProgress: Gauge<string>,
  ) {}

  onModuleInit(): void {
    (this.queueDepth as Collectable).collect = async () => {
      try {
        this.queueDepth.set(await this.store.count('queued'));
        this.inProgress.set(await this.store.count('in_progress'));
      } catch {
        /* the store is unreachable or closed: keep the last values; /readyz says why */
      }
    };
  }
}
