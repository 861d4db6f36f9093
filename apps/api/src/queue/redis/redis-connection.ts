import { Redis, type RedisOptions } from 'ioredis';

import type { RedisEndpoint } from '../../config/config.schema';

/**
 * Where Redis is and how to reach it (`RedisEndpoint`, validated in config/config.schema.ts).
 * Every client t2v makes (store, dispatcher, events, rate limits) is built from one endpoint by
 * `redisClient`, so TLS, ACL credentials and Sentinel apply to all of them.
 */
export type { RedisEndpoint };

/**
 * What a connection is for, which decides how it behaves while Redis is unreachable:
 * - `command`: every short command t2v sends (store, producer, rate limits): no offline queue
 *   and short timeouts, so a request fails in well under a second instead of waiting for Redis.
 * - `blocking`: BullMQ's worker, whose blocking reads must not time out or give up retrying.
 * - `subscriber`: pub/sub; waits for Redis and subscribes again after each reconnect.
 */
export type RedisRole = 'command' | 'blocking' | 'subscriber';

const RECONNECT = (attempt: number) => Math.min(100 * attempt, 1000);

/**
 * After a failover the old primary may come back as a replica while a client still talks to it:
 * READONLY means "reconnect and ask the sentinels again" (2 = reconnect without resending).
 */
const RECONNECT_ON_READONLY = (err: Error) => (/^READONLY\b/.test(err.message) ? 2 : false);

const OPTIONS: Record<RedisRole, RedisOptions> = {
  command: {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: 800,
    commandTimeout: 2000,
    // A command in flight when the connection drops fails at once rather than waiting for a
    // reconnect (a failover takes seconds) and being sent again (a script that did run would
    // then answer as if it had not).
    maxRetriesPerRequest: 0,
    retryStrategy: RECONNECT,
  },
  blocking: { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: RECONNECT },
  subscriber: { lazyConnect: true, retryStrategy: RECONNECT },
};

/** The ioredis options of an endpoint (address, credentials, TLS, Sentinel). */
export function endpointOptions(endpoint: RedisEndpoint | string): RedisOptions {
  const e: RedisEndpoint = typeof endpoint === 'string' ? { url: endpoint } : endpoint;
  const options: RedisOptions = { reconnectOnError: RECONNECT_ON_READONLY };
  let tls = e.tls ?? false;
  if (e.url) {
    const u = new URL(e.url);
    tls ||= u.protocol === 'rediss:';
    options.host = u.hostname.replace(/^\[|\]$/g, '');
    options.port = u.port ? Number(u.port) : 6379;
    if (u.username) options.username = decodeURIComponent(u.username);
    if (u.password) options.password = decodeURIComponent(u.password);
    if (u.pathname.length > 1) options.db = Number(u.pathname.slice(1));
  }
  if (e.sentinels?.length) {
    options.sentinels = e.sentinels;
    options.name = e.sentinelName;
    if (e.sentinelUsername) options.sentinelUsername = e.sentinelUsername;
    if (e.sentinelPassword) options.sentinelPassword = e.sentinelPassword;
    // Bounded: while no sentinel answers, keep asking every second, forever.
    options.sentinelRetryStrategy = RECONNECT;
  }
  if (e.username) options.username = e.username;
  if (e.password) options.password = e.password;
  if (tls) {
    options.tls = e.tlsCa ? { ca: e.tlsCa } : {};
    if (e.sentinels?.length) {
      options.enableTLSForSentinelMode = true;
      options.sentinelTLS = options.tls;
    }
  }
  return options;
}

/** Where an endpoint points, for logs and errors: never its credentials. */
export function describeEndpoint(endpoint: RedisEndpoint | string): string {
  const e: RedisEndpoint = typeof endpoint === 'string' ? { url: endpoint } : endpoint;
  if (e.sentinels?.length) {
    return `primary "${e.sentinelName}" via sentinels ${e.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  }
  const u = new URL(e.url!);
  return `${u.protocol}//${u.host}`;
}

/**
 * The one place a Redis client is made. Errors surface on the commands; the connection's own
 * `error` events only feed reconnects, so they are not left unhandled. Connect with `connect()`
 * (lazy): with Redis down at boot the client keeps trying and readiness says why.
 */
export function redisClient(
  endpoint: RedisEndpoint | string,
  role: RedisRole,
  overrides: RedisOptions = {},
): Redis {
  const client = new Redis({ ...endpointOptions(endpoint), ...OPTIONS[role], ...overrides });
  client.on('error', () => undefined);
  return client;
}

/** Connects a lazy client, ignoring failure (it keeps reconnecting by itself). */
export async function connectQuietly(client: Redis): Promise<void> {
  if (client.status === 'wait') await client.connect().catch(() => undefined);
}

/**
 * Failures that waiting will not fix: the server's certificate is not trusted (or names another
 * host), or the credentials are refused. Boot stops on these with this message.
 */
export function misconfiguration(err: unknown): string | null {
  const e = err as { code?: string; message?: string };
  const code = e.code ?? '';
  if (
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO/.test(code) ||
    /certificate/i.test(e.message ?? '')
  ) {
    return `the Redis server's TLS certificate is not trusted (${code || e.message}); set REDIS_TLS_CA_FILE to the CA that signed it`;
  }
  if (/^(WRONGPASS|NOAUTH|NOPERM)\b/.test(e.message ?? '')) {
    return `Redis refused the credentials (${e.message}); check REDIS_USERNAME / REDIS_PASSWORD or the URL`;
  }
  return null;
}

/**
 * Connects a lazy client for up to `ms`. Redis unreachable is not fatal (it keeps reconnecting
 * and readiness says why); an untrusted certificate or refused credentials are, with a message
 * that says what to fix.
 */
export async function connectOrExplain(client: Redis, what: string, ms = 5000): Promise<void> {
  if (client.status !== 'wait') return;
  let fatal: string | null = null;
  const onError = (err: Error) => {
    fatal ??= misconfiguration(err);
    if (fatal) client.disconnect();
  };
  client.on('error', onError);
  try {
    await Promise.race([
      client.connect().catch((err: unknown) => {
        fatal ??= misconfiguration(err);
      }),
      new Promise((r) => setTimeout(r, ms).unref()),
    ]);
  } finally {
    client.off('error', onError);
  }
  if (fatal) throw new Error(`cannot use Redis at ${what}: ${fatal}`);
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
