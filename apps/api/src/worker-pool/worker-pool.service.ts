import { EventEmitter } from 'node:events';

import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { appLogger } from '../logging/logger';
import { engineLaunch, resolveFfmpeg } from './engine-command';
import { WorkerSupervisor, type WorkerState } from './worker-supervisor';

/**
 * One supervised worker per device slot (a slot is a group of GPUs with T2V_PARALLEL; the worker
 * is its rank 0 and starts the other ranks itself). Hands out free READY workers; knows nothing of queues.
 * Emits `available` whenever a worker becomes READY, `state` on every transition.
 */
@Injectable()
export class WorkerPoolService extends EventEmitter implements OnApplicationShutdown {
  private readonly logger = appLogger('worker-pool');
  readonly workers: WorkerSupervisor[] = [];
  private started = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    super();
  }

  /** Spawns the workers. Called once the job store is open and dispatch has started. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const ffmpeg = resolveFfmpeg(this.config);
    this.config.devices.forEach((device, i) => {
      const launch = engineLaunch(this.config, device, ffmpeg);
      const worker = new WorkerSupervisor({
        // A worker group (T2V_PARALLEL) is one worker on several GPUs: `gpu-0+1`, `cuda:0,1`.
        id: device === 'cpu' ? `cpu-${i}` : `gpu-${device.replace(/,/g, '+')}`,
        device: device === 'cpu' ? 'cpu' : `cuda:${device}`,
        command: launch.command,
        env: launch.env,
        cwd: launch.cwd,
        startupTimeoutMs: this.config.workerStartupTimeoutS * 1000,
        heartbeatTimeoutMs: this.config.heartbeatTimeoutS * 1000,
        stallTimeoutMs: this.config.jobStallTimeoutS * 1000,
        jobTimeoutMs: this.config.jobTimeoutS * 1000,
      });
      worker.on('state', (state: WorkerState) => {
        this.emit('state', worker, state);
        if (state === 'READY') this.emit('available', worker);
      });
      worker.on('heartbeat', () => this.emit('heartbeat', worker));
      worker.on('restart', () => this.emit('restart', worker));
      this.workers.push(worker);
      worker.start();
    });
    this.logger.info(`started ${this.workers.length} ${this.config.engine} worker(s)`);
  }

  /** A READY worker, or null when all are busy or down. */
  acquire(): WorkerSupervisor | null {
    return this.workers.find((w) => w.state === 'READY') ?? null;
  }

  find(jobId: string): WorkerSupervisor | undefined {
    return this.workers.find((w) => w.busyJobId === jobId);
  }

  /** True when at least one worker has the model loaded (READY or BUSY). */
  hasLoadedWorker(): boolean {
    return this.workers.some((w) => w.state === 'READY' || w.state === 'BUSY');
  }

  async stop(graceMs: number): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop(graceMs)));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop(5000);
  }
}
