import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { QueueReason } from '@t2v/contracts';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { WorkerPoolService } from '../worker-pool/worker-pool.service';
import type { WorkerSupervisor } from '../worker-pool/worker-supervisor';
import { type ProcessReport, THIS_PROCESS } from './gpu-registry';
import { QUEUE_DRIVER, type QueueDriver } from './queue-driver';
import { ShutdownService } from './shutdown.service';

/** How often a process with workers reports them (also at once on every state change). */
const REPORT_MS = 2000;
/** How long a capacity reading is reused (each queued job's answer and SSE refresh reads it). */
const READ_MS = 1000;

/** What the GPU workers of every process sharing the queue can do now. */
export interface Capacity {
  /** Workers known, in processes that take jobs (not draining). */
  workers: number;
  /** Loaded and free. */
  idle: number;
  /** Loaded and running a job. */
  busy: number;
  /** Loading the model, or restarting after a failure that may heal. */
  starting: number;
  /** Failed in a way no restart heals (ADR 0014). */
  failed: number;
  /** Why, per distinct reason. */
  failures: string[];
}

/**
 * The GPU capacity of the whole deployment, through the driver's registry. A process with workers
 * (roles `gpu` and `all`) reports them every few seconds and on each change, and publishes the
 * model card a worker becomes ready with; every process reads the reports to say why jobs wait and
 * to refuse creates nothing could run. An empty GPU tier is not such a reason: it scales up.
 */
@Injectable()
export class CapacityService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('capacity');
  /** This process in the registry: host name (a pod's name) and pid. */
  readonly process = THIS_PROCESS;
  private readonly startedAt = Date.now() - Math.round(process.uptime() * 1000);
  private timer: NodeJS.Timeout | null = null;
  private reading: { at: number; value: Promise<Capacity> } | null = null;
  private reporting: Promise<void> = Promise.resolve();
  private withdrawn = false;
  /** What this process last reported of its workers (states, draining): a change is announced. */
  private lastShape = '';
  private readonly onState = (worker: WorkerSupervisor) => {
    this.report();
    if (worker.state === 'READY' && worker.ready) this.publish(worker);
  };
  private readonly onDraining = () => this.report();

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'role'>,
    @Inject(QUEUE_DRIVER) private readonly driver: Pick<QueueDriver, 'registry' | 'whenOpen'>,
    private readonly pool: WorkerPoolService,
    private readonly shutdown: ShutdownService,
  ) {
    // Another process' workers changed (one became ready, failed, or its process stopped).
    driver.registry.onChange(() => (this.reading = null));
  }

  /** Whether this process runs workers (and so reports them). */
  private get hasWorkers(): boolean {
    return this.config.role !== 'api';
  }

  onApplicationBootstrap(): void {
    if (!this.hasWorkers) return;
    // Reports start once the driver is open (its connection reports a bad TLS or password setting).
    void this.driver.whenOpen().then(() => {
      if (this.withdrawn) return;
      this.pool.on('state', this.onState);
      this.shutdown.on('draining', this.onDraining);
      this.report();
      this.timer = setInterval(() => this.report(), REPORT_MS);
      this.timer.unref();
    });
  }

  /** Withdraws this process' report before the driver's connections close (they close on shutdown). */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.hasWorkers) return;
    this.pool.off('state', this.onState);
    this.shutdown.off('draining', this.onDraining);
    if (this.timer) clearInterval(this.timer);
    const reported = this.timer !== null;
    this.withdrawn = true;
    if (!reported) return;
    await this.reporting;
    await this.driver.registry.withdraw(this.process).catch(() => undefined);
  }

  private ownReport(): ProcessReport {
    return {
      process: this.process,
      role: this.config.role,
      draining: this.shutdown.draining,
      startedAt: this.startedAt,
      seenAt: Date.now(),
      workers: this.pool.workers.map((w) => ({
        id: w.spec.id,
        device: w.spec.device,
        state: w.state,
        permanent: w.permanent,
        reason: w.lastError,
        job: w.busyJobId,
      })),
    };
  }

  /** Sends this process' report (one at a time; a failure is retried with the next one). */
  private report(): void {
    if (this.withdrawn) return;
    const report = this.ownReport();
    const shape = JSON.stringify([report.draining, report.workers]);
    const changed = shape !== this.lastShape;
    this.lastShape = shape;
    this.reading = null;
    this.reporting = this.reporting
      .then(() => (this.withdrawn ? undefined : this.driver.registry.report(report, changed)))
      .catch((err: Error) => this.logger.debug(`report not sent: ${err.message}`));
  }

  private publish(worker: WorkerSupervisor): void {
    const card = worker.ready!.card;
    this.driver.registry
      .publishCard({ card, publishedAt: Date.now(), publishedBy: `${this.process}/${worker.spec.id}` })
      .catch((err: Error) =>
        this.logger.warn(`model card of ${worker.spec.id} not published: ${err.message}`),
      );
  }

  /** The capacity now, from every fresh report (this process' own from its live workers). */
  now(): Promise<Capacity> {
    const at = Date.now();
    if (this.reading && at - this.reading.at < READ_MS) return this.reading.value;
    const value = this.read(at);
    this.reading = { at, value };
    return value;
  }

  private async read(at: number): Promise<Capacity> {
    let reports: ProcessReport[];
    try {
      await this.driver.whenOpen();
      reports = (await this.driver.registry.reports(at)).filter((r) => r.process !== this.process);
    } catch {
      reports = []; // the store is unreachable: creates fail anyway; say what this process knows
    }
    if (this.hasWorkers) reports.push(this.ownReport());
    const c: Capacity = { workers: 0, idle: 0, busy: 0, starting: 0, failed: 0, failures: [] };
    for (const r of reports) {
      if (r.draining) continue;
      for (const w of r.workers) {
        c.workers += 1;
        if (w.state === 'READY') c.idle += 1;
        else if (w.state === 'BUSY') c.busy += 1;
        else if (w.permanent) {
          c.failed += 1;
          if (w.reason && !c.failures.includes(w.reason)) c.failures.push(w.reason);
        } else if (w.state !== 'STOPPED') c.starting += 1;
      }
    }
    return c;
  }

  /**
   * Why a queued job waits now, for clients (`queue_reason` of the video object and its SSE
   * events): `gpu_capacity` when no worker has the model loaded (GPU pods starting, or the GPU tier
   * scaling up from zero: a cold start), `workers_busy` when every loaded worker runs a job ahead
   * of it, `workers_failed` when every worker failed permanently. Null when a worker is free.
   */
  async queueReason(): Promise<QueueReason | null> {
    const c = await this.now();
    if (unrunnable(c)) return 'workers_failed';
    if (c.idle + c.busy === 0) return 'gpu_capacity';
    return c.idle === 0 ? 'workers_busy' : null;
  }

  /**
   * Why a new job cannot be run by anything, or null. Only when every worker there is has failed
   * permanently: an empty or starting GPU tier will run it (a cold start), a failure that may heal
   * is retried, a busy one frees up.
   */
  async refusal(): Promise<string | null> {
    const c = await this.now();
    if (!unrunnable(c)) return null;
    return `every GPU worker (${c.failed}) failed permanently and none can run a job until that is fixed: ${c.failures.join('; ')}`;
  }
}

function unrunnable(c: Capacity): boolean {
  return c.workers > 0 && c.failed === c.workers;
}
