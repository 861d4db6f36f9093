import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';

import { JOB_STORE, type JobStore } from '../jobs/job-store';
import { ShutdownService } from '../jobs/shutdown.service';
import { StorageService } from '../storage/storage.service';
import { WorkerPoolService } from '../worker-pool/worker-pool.service';

/** Liveness says the process serves HTTP; readiness says it can take and run jobs. */
@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly pool: WorkerPoolService,
    private readonly storage: StorageService,
    private readonly shutdown: ShutdownService,
    @Inject(JOB_STORE) private readonly store: JobStore,
  ) {}

  @Get('healthz')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness' })
  liveness() {
    return this.health.check([() => this.indicator.check('process').up({ pid: process.pid })]);
  }

  @Get(['readyz', 'ready'])
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: a worker is loaded, storage is writable, the queue answers' })
  readiness() {
    return this.health.check([
      () => this.workers(),
      () => this.storageWritable(),
      () => this.queue(),
      () => this.lifecycle(),
    ]);
  }

  private workers() {
    const session = this.indicator.check('workers');
    const workers = this.pool.workers.map((w) => ({
      id: w.spec.id,
      state: w.state,
      ...(w.lastError ? { reason: w.lastError } : {}),
      ...(w.permanent ? { permanent: true } : {}),
      restarts: w.restarts,
    }));
    return this.pool.hasLoadedWorker() ? session.up({ workers }) : session.down({ workers });
  }

  private async storageWritable() {
    const session = this.indicator.check('storage');
    try {
      await this.storage.checkWritable();
      return session.up({ path: this.storage.root });
    } catch (err) {
      return session.down({ path: this.storage.root, reason: (err as Error).message });
    }
  }

  private async queue() {
    const session = this.indicator.check('queue');
    const driver = this.store.driver;
    try {
      await this.store.ping();
      return session.up({ driver });
    } catch (err) {
      return session.down({ driver, reason: (err as Error).message });
    }
  }

  private lifecycle() {
    const session = this.indicator.check('lifecycle');
    return this.shutdown.draining ? session.down({ reason: 'shutting down' }) : session.up();
  }
}
