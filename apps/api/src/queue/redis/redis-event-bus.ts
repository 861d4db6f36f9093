import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import type { PublishedCard } from '../../jobs/gpu-registry';
import type { Job } from '../../jobs/job.types';
import type { JobTransport } from '../../jobs/queue-driver';
import { appLogger } from '../../logging/logger';
import { closeRedis, type RedisEndpoint, redisClient } from './redis-connection';

type BusMessage =
  | { o: string; t: 'job'; job: Job }
  | { o: string; t: 'cancel'; id: string }
  | { o: string; t: 'card'; card: PublishedCard }
  | { o: string; t: 'capacity' };

/**
 * Redis pub/sub between replicas on one channel (`{<prefix>}:events`): every job change, so SSE
 * and waits on replica B follow a job running on A, cancel requests for a running job, and model
 * cards published by GPU workers, and that some process' workers changed (readers of the GPU
 * registry read it again). Each replica ignores its own messages (it delivered them locally
 * already).
 */
export class RedisEventBus implements JobTransport {
  private readonly logger = appLogger('redis-bus');
  private readonly origin = randomUUID();
  private readonly channel: string;
  private readonly subscriber: Redis;
  private readonly jobListeners: Array<(job: Job) => void> = [];
  private readonly cancelListeners: Array<(id: string) => void> = [];
  private readonly cardListeners: Array<(card: PublishedCard) => void> = [];
  private readonly capacityListeners: Array<() => void> = [];

  /** @param keyPrefix the store's hash-tagged prefix (`{t2v}`) */
  constructor(
    endpoint: RedisEndpoint | string,
    keyPrefix: string,
    /** Publishes on the store's connection: a lost message is no worse than a missed poll. */
    private readonly publisher: Redis,
  ) {
    this.channel = `${keyPrefix}:events`;
    this.subscriber = redisClient(endpoint, 'subscriber');
    this.subscriber.on('message', (_channel: string, raw: string) => this.onMessage(raw));
  }

  onJob(listener: (job: Job) => void): void {
    this.jobListeners.push(listener);
  }

  onCancel(listener: (id: string) => void): void {
    this.cancelListeners.push(listener);
  }

  onCard(listener: (card: PublishedCard) => void): void {
    this.cardListeners.push(listener);
  }

  onCapacityChange(listener: () => void): void {
    this.capacityListeners.push(listener);
  }

  /** Announces, here (at once) and on the other replicas, that some process' workers changed. */
  publishCapacityChange(): void {
    for (const l of this.capacityListeners) l();
    this.send({ o: this.origin, t: 'capacity' });
  }

  /** Announces a card here (at once) and on the other replicas. */
  publishCard(card: PublishedCard): void {
    for (const l of this.cardListeners) l(card);
    this.send({ o: this.origin, t: 'card', card });
  }

  /** Not awaited on purpose: with Redis down at boot, the subscription waits for it. */
  start(): void {
    void this.subscriber.connect().catch(() => undefined);
    // Queued until connected; ioredis subscribes again by itself after each reconnect.
    this.subscriber.subscribe(this.channel).catch((err: Error) => {
      this.logger.warn({ err }, `subscribe failed: ${err.message}`);
    });
  }

  async stop(): Promise<void> {
    await closeRedis(this.subscriber);
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
    if (message.t === 'job') for (const l of this.jobListeners) l(message.job);
    else if (message.t === 'cancel') for (const l of this.cancelListeners) l(message.id);
    else if (message.t === 'card') for (const l of this.cardListeners) l(message.card);
    else if (message.t === 'capacity') for (const l of this.capacityListeners) l();
  }
}
