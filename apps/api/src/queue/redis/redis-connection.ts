import { Redis, type RedisOptions } from 'ioredis';

/**
 * What a connection is for, which decides how it behaves while Redis is unreachable:
 * - `command`: every short command t2v sends (store, producer, rate limits): no offline queue
 *   and short timeouts, so a request fails in well under a second instead of waiting for Redis.
 * - `blocking`: BullMQ's worker, whose blocking reads must not time out or give up retrying.
 * - `subscriber`: pub/sub; waits for Redis and subscribes again after each reconnect.
 */
export type RedisRole = 'command' | 'blocking' | 'subscriber';

const RECONNECT = (attempt: number) => Math.min(100 * attempt, 1000);

const OPTIONS: Record<RedisRole, RedisOptions> = {
  command: {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: 800,
    commandTimeout: 2000,
    maxRetriesPerRequest: 1,
    retryStrategy: RECONNECT,
  },
  blocking: { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: RECONNECT },
  subscriber: { lazyConnect: true, retryStrategy: RECONNECT },
};

/**
 * The one place a Redis client is made. Errors surface on the commands; the connection's own
 * `error` events only feed reconnects, so they are not left unhandled. Connect with `connect()`
 * (lazy): with Redis down at boot the client keeps trying and readiness says why.
 */
export function redisClient(url: string, role: RedisRole, overrides: RedisOptions = {}): Redis {
  const client = new Redis(url, { ...OPTIONS[role], ...overrides });
  client.on('error', () => undefined);
  return client;
}

/** Connects a lazy client, ignoring failure (it keeps reconnecting by itself). */
export async function connectQuietly(client: Redis): Promise<void> {
  if (client.status === 'wait') await client.connect().catch(() => undefined);
}

/** QUIT when connected (bounded), otherwise drop the socket: a queued QUIT would wait forever. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((r) => setTimeout(r, 1000).unref()),
    ]);
  }
  client.disconnect();
}
