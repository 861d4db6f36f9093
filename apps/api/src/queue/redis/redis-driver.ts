import type { AppConfig } from '../../config/app-config';
import { fairPolicyOf } from '../../jobs/fair-queue';
import {
  type DispatchContext,
  deferred,
  type JobDispatcher,
  type QueueDriver,
} from '../../jobs/queue-driver';
import { RedisDispatcher } from './redis-dispatcher';
import { RedisEventBus } from './redis-event-bus';
import { RedisGpuRegistry } from './redis-gpu-registry';
import { RedisJobStore } from './redis-job-store';
import { RedisThrottlerStorage } from './redis-throttler.storage';

type RedisDriverConfig = Pick<
  AppConfig,
  | 'redis'
  | 'redisDurability'
  | 'redisPrefix'
  | 'redisLockS'
  | 'devices'
  | 'maxQueue'
  | 'role'
  | 'apiKeys'
  | 'keyPolicies'
>;

/**
 * The redis queue driver (`T2V_QUEUE=redis`): records and the queue in Redis, so any number of
 * replicas share them; BullMQ dispatch; changes and cancels over pub/sub. See ADR 0040; Sentinel,
 * TLS, ACL and the durability rule: ADR 0041.
 */
export class RedisDriver implements QueueDriver {
  readonly name = 'redis';
  readonly store: RedisJobStore;
  readonly transport: RedisEventBus;
  readonly registry: RedisGpuRegistry;
  /** Every replica writes into the one output volume. */
  readonly sharedOutputs = true;
  private throttler: RedisThrottlerStorage | null = null;

  constructor(private readonly config: RedisDriverConfig) {
    this.store = new RedisJobStore(
      config.redis!,
      config.redisPrefix,
      config.maxQueue,
      config.redisDurability,
      fairPolicyOf(config),
    );
    this.transport = new RedisEventBus(config.redis!, this.store.keyPrefix, this.store.client);
    this.registry = new RedisGpuRegistry(this.store.client, this.store.keyPrefix, this.transport);
  }

  /** Rate-limit counters in Redis, so a client's limit is the same on every replica. */
  throttlerStorage(): RedisThrottlerStorage {
    this.throttler ??= new RedisThrottlerStorage(this.config.redis!, this.store.keyPrefix);
    return this.throttler;
  }

  createDispatcher(context: DispatchContext): JobDispatcher {
    return new RedisDispatcher(this.config, this.store, this.registry, context);
  }

  private readonly opened = deferred();

  async open(): Promise<void> {
    await this.store.open();
    this.transport.start();
    this.opened.resolve();
  }

  whenOpen(): Promise<void> {
    return this.opened.promise;
  }

  async close(): Promise<void> {
    await this.transport.stop();
    await this.throttler?.close();
    await this.store.close();
  }
}
