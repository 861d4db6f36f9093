import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { appLogger } from '../logging/logger';
import { OUTPUT_STORE, type OutputStore } from '../storage/output-store';
import { JOB_STORE, type JobStore } from './job-store';

/** Deletes the outputs of completed jobs once they expire; the record stays, marked expired. */
@Injectable()
export class OutputExpiryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = appLogger('expiry');
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'expirySweepS' | 'role'>,
    @Inject(JOB_STORE) private readonly store: JobStore,
    @Inject(OUTPUT_STORE) private readonly storage: Pick<OutputStore, 'remove'>,
  ) {}

  onApplicationBootstrap(): void {
    // The always-on API tier sweeps; GPU pods come and go.
    if (this.config.role === 'gpu') return;
    this.timer = setInterval(() => void this.sweep(), this.config.expirySweepS * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    try {
      for (const job of await this.store.findExpired(Date.now())) {
        await this.storage.remove(job.id);
        await this.store.markExpired(job.id);
        this.logger.info({ job_id: job.id }, `outputs of ${job.id} expired and were removed`);
      }
    } catch (err) {
      this.logger.error({ err }, `expiry sweep failed: ${(err as Error).message}`);
    }
  }
}
