import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';

import { StorageService } from '../storage/storage.service';
import { WorkerPoolService } from '../worker-pool/worker-pool.service';
import { JOB_DISPATCHER, type JobDispatcher, QUEUE_DRIVER, type QueueDriver } from './queue-driver';
import { ShutdownService } from './shutdown.service';

/**
 * Start and stop, in order: the driver's connections and store, the output directory, the
 * dispatcher, then the workers; at the end the dispatcher before the driver's connections.
 */
@Injectable()
export class DispatchService implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(QUEUE_DRIVER) private readonly driver: QueueDriver,
    @Inject(JOB_DISPATCHER) private readonly dispatcher: JobDispatcher,
    private readonly storage: StorageService,
    private readonly pool: WorkerPoolService,
    private readonly shutdown: ShutdownService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.driver.open();
    this.storage.ensureRoot();
    // Workers write `.<name>.<pid>.tmp*` beside the final file; a crash can leave one behind.
    // On a shared volume a fresh one may belong to a job running on another replica.
    this.storage.removeStrayTempFiles(this.driver.sharedOutputs ? 3600_000 : 0);
    await this.dispatcher.start();
    this.pool.start();
  }

  /**
   * SIGTERM: readiness fails and new jobs are refused from now on; after `delayMs` (for load
   * balancers to notice) running jobs get `graceMs` to finish, then go back to the queue.
   */
  async drain(delayMs: number, graceMs: number): Promise<void> {
    this.shutdown.begin('SIGTERM');
    await new Promise((r) => setTimeout(r, delayMs));
    await this.dispatcher.drain(graceMs);
  }

  async onApplicationShutdown(): Promise<void> {
    this.shutdown.begin('application shutdown');
    await this.dispatcher.stop();
    await this.driver.close();
  }
}
