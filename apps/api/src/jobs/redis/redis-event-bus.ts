import { randomUUID } from 'node:crypto';

import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

import type { JobEventTransport } from '../job-events';
import type { Job } from '../job.types';

type BusMessage = { o: string; t: 'job'; job: Job } | { o: string; t: 'cancel'; id: string };

/**
 * Redis pub/sub between replicas on one channel (`<prefix>:events`): every job change, so SSE
 * and waits on replica B follow a job running on A, and cancel requests for a running job.
 * Each replica ignores its own messages (it delivered them locally already).
 */
export class RedisEventBus implements JobEventTransport {
  private readonly logger = new Logger('redis-bus');
  private readonly origin = randomUUID();
  private readonly channel: string;
  private readonly subscriber: Redis;

  constructor(
    url: string,
    prefix: string,
    /** Publishes on the store's connection: a lost message is no worse than a missed poll. */
    private readonly publisher: Redis,
    private readonly handlers: { job(job: Job): void; cancel(id: string): void },
  ) {
    this.channel = `${prefix}:events`;
    this.subscriber = new Redis(url, { lazyConnect: true, retryStrategy: (n) => Math.min(100 * n, 1000) });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, raw: string) => this.onMessage(raw));
  }

  /** Not awaited on purpose: with Redis down at boot, the subscription waits for it. */
  start(): void {
    void this.subscriber.connect().catch(() => undefined);
    // Queued until connected; ioredis subscribes again by itself after each reconnect.
    this.subscriber.subscribe(this.channel).catch((err: Error) => {
      this.logger.warn(`subscribe failed: ${err.message}`);
    });
  }

  async stop(): Promise<void> {
    if (this.subscriber.status === 'ready') {
      await Promise.race([
        this.subscriber.quit().catch(() => undefined),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
    }
    this.subscriber.disconnect();
  }

  publish(job: Job): void {
    this.send({ o: this.origin, t: 'job', job });
  }

  cancel(id: string): void {
    this.send({ o: this.origin, t: 'cancel', id });
  }

  private send(message: BusMessage): void {
    this.publisher.publish(this.channel, JSON.stringify(message)).catch(() => undefined);
  }

  private onMessage(raw: string): void {
    let message: BusMessage;
    try {
      message = JSON.parse(raw) as BusMessage;
    } catch {
      return;
    }
    if (message.o === this.origin) return;
    if (message.t === 'job') this.handlers.job(message.job);
    else if (message.t === 'cancel') this.handlers.cancel(message.id);
  }
}
