import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CapacityService } from '../jobs/capacity.service';
import { JOB_STORE, type JobStore } from '../jobs/job-store';
import { ShutdownService } from '../jobs/shutdown.service';
import { OUTPUT_STORE, type OutputStore } from '../storage/output-store';
import { WorkerPoolService } from '../worker-pool/worker-pool.service';

/**
 * Liveness says the process serves HTTP; readiness says it can take (and, with workers, run) jobs.
 * The API tier (`T2V_ROLE=api`) is ready without any GPU worker: it accepts jobs for a GPU tier
 * that may be scaled to zero, and reports what that tier can do now.
 */
@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly pool: WorkerPoolService,
    @Inject(OUTPUT_STORE) private readonly outputs: OutputStore,
    private readonly shutdown: ShutdownService,
    private readonly capacity: CapacityService,
    @Inject(JOB_STORE) private readonly store: JobStore,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'role'>,
  ) {}

  @Get('healthz')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness' })
  liveness() {
    return this.health.check([() => this.indicator.check('process').up({ pid: process.pid })]);
  }

  @Get(['readyz', 'ready'])
  @HealthCheck()
  @ApiOperation({
    summary: 'Readiness: a worker is loaded (not in the API tier), storage is writable, the queue answers',
  })
  readiness() {
    return this.health.check([
      () => (this.config.role === 'api' ? this.gpuTier() : this.workers()),
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

  /** The API tier: what the GPU workers of the deployment can do (informational: never down). */
  private async gpuTier() {
    const { workers, idle, busy, starting, failed } = await this.capacity.now();
    return this.indicator.check('gpu').up({ workers, idle, busy, starting, failed });
  }

  private async storageWritable() {
    const session = this.indicator.check('storage');
    try {
      await this.outputs.check();
      return session.up({ path: this.outputs.location });
    } catch (err) {
      return session.down({ path: this.outputs.location, reason: (err as Error).message });
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
