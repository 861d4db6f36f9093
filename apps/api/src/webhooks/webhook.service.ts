import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ulid } from 'ulid';

import { JobEvents } from '../jobs/job-events';
import type { Job } from '../jobs/job.types';
import { METRIC } from '../metrics/metrics';
import { toVideoObject } from '../videos/video.presenter';
import { webhookUrlProblem } from './url-safety';
import { WebhookSigner } from './webhook-signer';

export interface WebhookOptions {
  /** `whsec_<base64>`; webhooks are off (and `webhook_url` refused) without it. */
  secret: string | undefined;
  allowPrivate: boolean;
  maxAttempts: number;
  /** First retry delay; doubled per attempt. */
  backoffMs: number;
  timeoutMs: number;
}

export const WEBHOOK_OPTIONS = Symbol('WEBHOOK_OPTIONS');

/**
 * Delivers `video.completed` / `video.failed` / `video.cancelled` to a job's `webhook_url`,
 * signed per Standard Webhooks, retried with exponential backoff. Delivery never blocks or
 * changes the job, and a dead receiver never affects readiness.
 */
@Injectable()
export class WebhookService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('webhooks');
  private readonly signer: WebhookSigner | null;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private unsubscribe: (() => void) | null = null;

  constructor(
    @Inject(WEBHOOK_OPTIONS) private readonly options: WebhookOptions,
    private readonly events: JobEvents,
    @InjectMetric(METRIC.webhookDeliveries) private readonly deliveries: Counter<string>,
  ) {
    this.signer = options.secret ? new WebhookSigner(options.secret) : null;
  }

  get enabled(): boolean {
    return this.signer !== null;
  }

  /** Why `url` cannot be used as a webhook on this server, or null. */
  async urlProblem(url: string): Promise<string | null> {
    if (!this.enabled) return 'webhooks are not enabled on this server (T2V_WEBHOOK_SECRET is not set)';
    return webhookUrlProblem(url, this.options.allowPrivate);
  }

  onModuleInit(): void {
    this.unsubscribe = this.events.onSettled((job) => {
      if (!job.webhookUrl || !this.signer) return;
      const p = this.deliver(job).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.unsubscribe?.();
    this.stopped = true;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
  }

  private async deliver(job: Job): Promise<void> {
    const url = job.webhookUrl!;
    const msgId = `msg_${ulid()}`;
    const body = JSON.stringify({
      type: `video.${job.status}`,
      timestamp: new Date().toISOString(),
      data: toVideoObject(job, null),
    });
    for (let attempt = 1; attempt <= this.options.maxAttempts && !this.stopped; attempt++) {
      const problem = await webhookUrlProblem(url, this.options.allowPrivate);
      if (problem) {
        this.deliveries.inc({ result: 'refused' });
        this.logger.warn(`webhook for ${job.id} refused: ${url} ${problem}`);
        return;
      }
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 't2v-webhooks/1',
            ...this.signer!.headers(msgId, Math.floor(Date.now() / 1000), body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status >= 200 && res.status < 300) {
          this.deliveries.inc({ result: 'success' });
          return;
        }
        this.logger.warn(`webhook for ${job.id}: ${url} answered ${res.status} (attempt ${attempt})`);
      } catch (err) {
        this.logger.warn(
          `webhook for ${job.id}: ${url} failed: ${(err as Error).message} (attempt ${attempt})`,
        );
      }
      if (attempt < this.options.maxAttempts) {
        this.deliveries.inc({ result: 'retry' });
        await new Promise((r) => setTimeout(r, this.options.backoffMs * 2 ** (attempt - 1)).unref());
      }
    }
    this.deliveries.inc({ result: 'failure' });
  }
}
