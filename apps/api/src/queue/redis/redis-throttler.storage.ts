import type { ThrottlerLimitDetail, ThrottlerStorage } from '@nestjs/throttler';
import type { Redis } from 'ioredis';

import { closeRedis, type RedisEndpoint, redisClient } from './redis-connection';

type ThrottlerStorageRecord = Omit<ThrottlerLimitDetail, 'ttl' | 'limit' | 'key' | 'tracker'>;

/** Fixed window per key: INCR, and set the expiry with the first hit. One round trip. */
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { hits, redis.call('PTTL', KEYS[1]) }
`;

/** Rate-limit counters in Redis, so every replica counts the same requests of a client. */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly redis: Redis;

  /** @param keyPrefix the store's hash-tagged prefix (`{t2v}`) */
  constructor(
    endpoint: RedisEndpoint | string,
    private readonly keyPrefix: string,
  ) {
    this.redis = redisClient(endpoint, 'command', { lazyConnect: false, commandTimeout: 800 });
  }

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    const [hits, pttl] = (await this.redis.eval(INCREMENT, 1, `${this.keyPrefix}:ratelimit:${key}`, ttl)) as [
      number,
      number,
    ];
    const timeToExpire = Math.ceil(Math.max(pttl, 0) / 1000);
    const isBlocked = hits > limit;
    return { totalHits: hits, timeToExpire, isBlocked, timeToBlockExpire: isBlocked ? timeToExpire : 0 };
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}
