import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';

import { OutboxSignal } from '../jobs/job-lifecycle';
import { JOB_STORE, type JobStore, type OutboxDelivery } from '../jobs/job-store';
import { appLogger } from '../logging/logger';
import { METRIC } from '../metrics/metrics';
import { toVideoObject } from '../wire/video.schema';
import { RefusedAddress, type Resolve, urlShapeProblem } from './url-safety';
import { WebhookHttp } from './webhook-http';
import { WebhookSigner } from './webhook-signer';

export interface WebhookOptions {
  /** `whsec_<base64>`; webhooks are off (and `webhook_url` refused) without it. */
  secret: string | undefined;
  allowPrivate: boolean;
  maxAttempts: number;
  /** First retry delay; doubled per attempt. */
  backoffMs: number;
  timeoutMs: number;
  /** How often the outbox is checked for due deliveries (a new entry is worked at once). */
  pollMs: number;
  /** How host names are resolved, at create and where deliveries connect (the system's by default). */
  resolve?: Resolve;
}

export const WEBHOOK_OPTIONS = Symbol('WEBHOOK_OPTIONS');

/** Deliveries worked at once per pass. */
const BATCH = 16;

/**
 * Delivers `video.completed` / `video.failed` / `video.cancelled` from the outbox the job
 * lifecycle writes (in the same commit as the status change), signed per Standard Webhooks and
 * retried with exponential backoff. The outbox is durable, so a restart during a receiver outage
 * loses nothing; each entry is leased while it is tried, so one replica sends it at a time; and
 * its `webhook-id` is the same on every try, so a receiver can drop a repeat. Delivery never
 * blocks or changes the job, and a dead receiver never affects readiness.
 */
@Injectable()
export class WebhookDeliveryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = appLogger('webhooks');
  private readonly signer: WebhookSigner | null;
  private readonly http: WebhookHttp;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private working = false;
  private workAgain = false;
  private stopped = false;
  private readonly onWritten = () => void this.work();

  constructor(
    @Inject(WEBHOOK_OPTIONS) private readonly options: WebhookOptions,
    @Inject(JOB_STORE) private readonly store: JobStore,
    private readonly signal: OutboxSignal,
    @InjectMetric(METRIC.webhookDeliveries) private readonly deliveries: Counter<string>,
  ) {
    this.signer = options.secret ? new WebhookSigner(options.secret) : null;
    this.http = new WebhookHttp(options.allowPrivate, options.resolve);
  }

  onApplicationBootstrap(): void {
    // Without a secret no job can carry a webhook_url, but entries written while one was set
    // stay in the outbox until a server with a secret works them.
    if (!this.signer) return;
    this.signal.on('written', this.onWritten);
    this.timer = setInterval(() => void this.work(), this.options.pollMs);
    this.timer.unref();
    void this.work();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.signal.off('written', this.onWritten);
    if (this.timer) clearInterval(this.timer);
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    this.http.close();
  }

  /** One pass over the due entries (coalesced: a pass asked for while one runs runs after it). */
  async work(): Promise<void> {
    if (this.working) {
      this.workAgain = true;
      return;
    }
    this.working = true;
    try {
      do {
        this.workAgain = false;
        if (this.stopped) return;
        // Leased for longer than one try can take, so no other replica picks it up meanwhile.
        const due = await this.store.claimDeliveries(Date.now(), this.options.timeoutMs + 5000, BATCH);
        for (const delivery of due) {
          const p = this.attempt(delivery).finally(() => this.inFlight.delete(p));
          this.inFlight.add(p);
        }
        if (due.length === BATCH) this.workAgain = true;
      } while (this.workAgain);
    } catch (err) {
      this.logger.debug({ err }, `outbox not readable now: ${(err as Error).message}`);
    } finally {
      this.working = false;
    }
  }

  private async attempt(delivery: OutboxDelivery): Promise<void> {
    const attempt = delivery.attempts + 1;
    const outcome = await this.send(delivery, attempt);
    try {
      if (outcome === 'retry' && attempt < this.options.maxAttempts && !this.stopped) {
        this.deliveries.inc({ result: 'retry' });
        const delay = this.options.backoffMs * 2 ** (attempt - 1);
        await this.store.rescheduleDelivery(delivery.id, Date.now() + delay, attempt);
        setTimeout(() => void this.work(), delay).unref();
        return;
      }
      if (outcome === 'retry' && this.stopped) return; // the lease runs out; another process retries
      if (outcome === 'retry') this.deliveries.inc({ result: 'failure' });
      await this.store.removeDelivery(delivery.id);
    } catch (err) {
      // The store is unreachable: the lease runs out and the entry is tried again.
      this.logger.warn(
        { job_id: delivery.job.id, webhook_id: delivery.id, err },
        `webhook ${delivery.id}: outcome not recorded: ${(err as Error).message}`,
      );
    }
  }

  private async send(delivery: OutboxDelivery, attempt: number): Promise<'done' | 'retry'> {
    const { url, job } = delivery;
    const shape = urlShapeProblem(url);
    if (shape) return this.refused(delivery, shape);
    const body = JSON.stringify({
      type: delivery.event,
      timestamp: new Date(delivery.at).toISOString(),
      data: toVideoObject(job, null),
    });
    const headers = {
      'content-type': 'application/json',
      'user-agent': 't2v-webhooks/1',
      ...this.signer!.headers(delivery.id, Math.floor(Date.now() / 1000), body),
    };
    try {
      const status = await this.http.post(url, headers, body, this.options.timeoutMs);
      if (status >= 200 && status < 300) {
        this.deliveries.inc({ result: 'success' });
        return 'done';
      }
      this.logger.warn(
        { job_id: job.id, webhook_id: delivery.id, status, attempt },
        `webhook for ${job.id}: ${url} answered ${status} (attempt ${attempt})`,
      );
    } catch (err) {
      // Refused where it connects (a name that now resolves to a private address): not retried.
      if (err instanceof RefusedAddress) return this.refused(delivery, err.message);
      this.logger.warn(
        { job_id: job.id, webhook_id: delivery.id, attempt, err },
        `webhook for ${job.id}: ${url} failed: ${(err as Error).message} (attempt ${attempt})`,
      );
    }
    return 'retry';
  }

  private refused(delivery: OutboxDelivery, problem: string): 'done' {
    this.deliveries.inc({ result: 'refused' });
    this.logger.warn(
      { job_id: delivery.job.id, webhook_id: delivery.id },
      `webhook for ${delivery.job.id} refused: ${delivery.url} ${problem}`,
    );
    return 'done';
  }
}
