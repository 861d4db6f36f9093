import type { JobStatus } from '@t2v/contracts';
import type { Redis } from 'ioredis';

import { isTerminal } from '@t2v/contracts';

import type { RedisDurability } from '../../config/config.schema';
import { ANONYMOUS, defaultFairPolicy, type FairPolicy, turnCost } from '../../jobs/fair-queue';
import type { JobStore, OutboxDelivery, OutboxIntent } from '../../jobs/job-store';
import {
  CallerCapReached,
  IdempotencyKeyTaken,
  IdenticalJobActive,
  NotDurable,
  QueueFull,
  StoreUnavailable,
} from '../../jobs/job-store.errors';
import type { ShapeTiming } from '../../jobs/estimates';
import type { Job, JobPatch, ListPage, ListQuery } from '../../jobs/job.types';
import type { UsageRecord } from '../../jobs/usage';
import {
  closeRedis,
  connectOrExplain,
  connectQuietly,
  describeEndpoint,
  type RedisEndpoint,
  redisClient,
} from './redis-connection';
import { appLogger } from '../../logging/logger';
import { CLAIM, CLAIM_DELIVERIES, DELETE, INSERT, MUTATE, RESCHEDULE_DELIVERY } from './redis-scripts';

/** Replies that mean "Redis cannot take this now", not "the request is wrong". */
const TRANSIENT_REPLY = /^(OOM|LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF)\b/;

interface ScriptCommands {
  t2vInsert(...args: Array<string | number>): Promise<[string, string | number, string?] | [string]>;
  t2vMutate(...args: Array<string | number>): Promise<string[] | null>;
  t2vClaim(...args: Array<string | number>): Promise<string[] | null>;
  t2vDelete(...args: Array<string | number>): Promise<number>;
  t2vClaimDeliveries(...args: Array<string | number>): Promise<string[]>;
  t2vRescheduleDelivery(...args: Array<string | number>): Promise<number>;
}

/**
 * The redis driver's store: job records in Redis hashes with sorted-set indexes, every decision
 * made by one Lua script (`redis-scripts.ts`). Any replica reads and changes any job.
 */
export class RedisJobStore implements JobStore {
  readonly driver = 'redis';
  readonly client: Redis & ScriptCommands;
  /** `{<prefix>}`: the prefix as a hash tag, so all of t2v's keys share one Cluster slot. */
  readonly keyPrefix: string;
  private readonly logger = appLogger('redis-store');

  /**
   * @param endpoint `REDIS_URL` or the full endpoint (Sentinel, TLS, ACL)
   * @param prefix key prefix (`T2V_REDIS_PREFIX`); keys are `{prefix}:…`
   * @param maxQueue queued jobs before `insert` refuses with QueueFull; 0 = unbounded
   * @param durability when an insert or a terminal change counts as acknowledged
   * @param policy each caller's weight and caps (jobs/fair-queue.ts)
   */
  constructor(
    readonly endpoint: RedisEndpoint | string,
    readonly prefix: string,
    private readonly maxQueue = 0,
    readonly durability: RedisDurability = { rule: 'primary', replicas: 1, timeoutMs: 500 },
    private readonly policy: FairPolicy = defaultFairPolicy,
  ) {
    this.keyPrefix = `{${prefix}}`;
    this.client = scripted(redisClient(endpoint, 'command', { commandTimeout: 800 }));
    if (durability.rule === 'replicas') {
      // WAIT blocks the connection it runs on until the replicas answer (it covers that
      // connection's writes). Durable writes therefore get connections of their own, so a WAIT
      // never holds up reads or other writes queued behind it on a shared connection.
      const commandTimeout = Math.max(800, durability.timeoutMs + 300);
      for (let i = 0; i < DURABLE_WRITERS; i++) {
        this.writers.push({
          client: scripted(redisClient(endpoint, 'command', { commandTimeout })),
          busy: 0,
        });
      }
    }
  }

  /** Connections for durable writes (rule `replicas`), each with its number of writes in flight. */
  private readonly writers: Array<{ client: Redis & ScriptCommands; busy: number }> = [];
  /** Replicas in sync with the primary, as its INFO said at the last look (rule `replicas`). */
  private replicasOnline: { count: number; at: number } = { count: 0, at: 0 };

  /**
   * Runs `op` on the least busy durable-write connection, or on the shared one when the rule does
   * not WAIT.
   */
  private async onWriter<T>(op: (client: Redis & ScriptCommands) => Promise<T>): Promise<T> {
    if (this.writers.length === 0) return op(this.client);
    const writer = this.writers.reduce((a, b) => (b.busy < a.busy ? b : a));
    writer.busy++;
    try {
      return await op(writer.client);
    } finally {
      writer.busy--;
    }
  }

  /**
   * Whether the primary has the replicas the rule needs (INFO replication, at most 250 ms old).
   * Without them a write is refused before it is made, in milliseconds, instead of each create
   * waiting out the WAIT timeout.
   */
  private async enoughReplicas(): Promise<boolean> {
    if (Date.now() - this.replicasOnline.at > 250) {
      const info = await this.call(() => this.client.info('replication'));
      const count = (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
      this.replicasOnline = { count, at: Date.now() };
    }
    return this.replicasOnline.count >= this.durability.replicas;
  }

  key(...parts: string[]): string {
    return [this.keyPrefix, ...parts].join(':');
  }

  async open(): Promise<void> {
    // Redis down at boot is not fatal: the client keeps reconnecting and /readyz says why. An
    // untrusted certificate or refused credentials are: boot stops and says what to fix.
    await connectOrExplain(this.client, describeEndpoint(this.endpoint));
    for (const w of this.writers) await connectQuietly(w.client);
    if (this.client.status === 'ready') await this.moveLegacyKeys().catch(() => undefined);
  }

  /**
   * Keys written before the prefix became a hash tag (`t2v:…`) move to `{t2v}:…` once, on the
   * first boot of this version, so no accepted job is left behind by the new layout. Only while
   * the new layout is empty; a lock keeps two booting replicas from doing it at once.
   */
  private async moveLegacyKeys(): Promise<void> {
    const legacy = `${this.prefix}:`;
    if (
      (await this.client.exists(`${legacy}seq`)) === 0 ||
      (await this.client.exists(this.key('seq'))) === 1
    ) {
      return;
    }
    if ((await this.client.set(this.key('migrating'), '1', 'PX', 60_000, 'NX')) !== 'OK') return;
    let moved = 0;
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.client.scan(cursor, 'MATCH', `${legacy}*`, 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          await this.client.renamenx(k, `${this.keyPrefix}:${k.slice(legacy.length)}`).catch(() => 0);
          moved++;
        }
      } while (cursor !== '0');
    } finally {
      await this.client.del(this.key('migrating'));
    }
    this.logger.warn(`moved ${moved} keys from ${legacy}* to ${this.keyPrefix}:* (hash-tagged key layout)`);
  }

  /**
   * The durability rule `replicas`: WAIT until enough replicas have every write made so far on
   * this connection. Resolves with whether they did within the timeout.
   */
  private async replicated(client: Redis): Promise<boolean> {
    if (this.durability.rule !== 'replicas') return true;
    const { replicas, timeoutMs } = this.durability;
    const acked = await this.call(() => client.wait(replicas, timeoutMs));
    return acked >= replicas;
  }

  async close(): Promise<void> {
    await Promise.all([this.client, ...this.writers.map((w) => w.client)].map((c) => closeRedis(c)));
  }

  /** Runs one Redis call, turning connection trouble into StoreUnavailable. */
  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      const e = err as Error;
      if (e.name !== 'ReplyError' || TRANSIENT_REPLY.test(e.message)) throw new StoreUnavailable(e.message);
      throw err;
    }
  }

  async insert(given: Omit<Job, 'seq'>, outbox?: OutboxIntent): Promise<Job> {
    if (this.durability.rule === 'replicas' && !(await this.enoughReplicas())) {
      throw new NotDurable(this.durability.replicas, this.durability.timeoutMs);
    }
    const caller = given.caller ?? ANONYMOUS;
    const job = { ...given, caller };
    const policy = this.policy(caller);
    return this.onWriter(async (client) => {
      const reply = await this.call(() =>
        client.t2vInsert(
          this.key('job', job.id),
          this.key('seq'),
          this.key('jobs'),
          this.keyPrefix,
          job.id,
          job.status,
          job.idempotencyKey ?? '',
          job.cacheKey ?? '',
          job.status === 'queued' ? this.maxQueue : 0,
          outbox ? JSON.stringify(outbox) : '',
          caller,
          policy.maxQueued ?? 0,
          policy.maxRunning ?? 0,
          turnCost(policy.weight),
          ...encode(job),
        ),
      );
      if (reply[0] === 'OK' && !(await this.replicated(client))) {
        // Not acknowledged, so not accepted: take it back (a retry with the same
        // Idempotency-Key may then make it again) and answer 503.
        this.replicasOnline.at = 0;
        await this.call(() =>
          client.t2vDelete(
            this.key('job', job.id),
            this.key('jobs'),
            this.key('expiry'),
            this.keyPrefix,
            job.id,
          ),
        ).catch(() => undefined);
        throw new NotDurable(this.durability.replicas, this.durability.timeoutMs);
      }
      return this.inserted(job, reply);
    });
  }

  private inserted(job: Omit<Job, 'seq'>, reply: [string, string | number, string?] | [string]): Job {
    switch (reply[0]) {
      case 'OK':
        return job.status === 'queued'
          ? { ...job, seq: Number(reply[1]), turn: Number(reply[2]) }
          : { ...job, seq: Number(reply[1]) };
      case 'CAP':
        throw new CallerCapReached(job.caller ?? ANONYMOUS, 'max_queued', Number(reply[1]));
      case 'IDEM':
        throw new IdempotencyKeyTaken(String(reply[1]));
      case 'ACTIVE':
        throw new IdenticalJobActive(String(reply[1]));
      case 'FULL':
        throw new QueueFull(Number(reply[1]));
      default:
        throw new Error(`job ${job.id} exists already`);
    }
  }

  async get(id: string): Promise<Job | null> {
    return decode(await this.call(() => this.client.hgetall(this.key('job', id))));
  }

  private async getMany(ids: string[]): Promise<Job[]> {
    if (ids.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const id of ids) pipeline.hgetall(this.key('job', id));
    const replies = (await this.call(() => pipeline.exec())) ?? [];
    const jobs: Job[] = [];
    for (const [err, value] of replies) {
      if (err) throw new StoreUnavailable(err.message);
      const job = decode(value as Record<string, string>);
      if (job) jobs.push(job); // deleted between the index read and this one
    }
    return jobs;
  }

  async markExpired(id: string): Promise<Job | null> {
    return this.mutate(id, [], '', 0, { expired: true });
  }

  async transition(
    id: string,
    from: JobStatus[],
    to: JobStatus,
    patch: JobPatch = {},
    outbox?: OutboxIntent,
  ): Promise<Job | null> {
    if (from.length === 0) return null;
    return this.mutate(id, from, to, 0, patch, outbox);
  }

  async claim(now: number, id?: string, carrier?: string): Promise<Job | null> {
    const reply = await this.call(() =>
      this.client.t2vClaim(
        this.key('status', 'queued'),
        this.keyPrefix,
        id ?? '',
        carrier ?? '',
        ...encode({ startedAt: now, progress: 0 }),
      ),
    );
    return reply ? decode(pairs(reply)) : null;
  }

  async timings(): Promise<Record<string, ShapeTiming>> {
    const all = await this.call(() => this.client.hgetall(this.key('timings')));
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as ShapeTiming]));
  }

  async saveTiming(key: string, timing: ShapeTiming): Promise<void> {
    await this.call(() => this.client.hset(this.key('timings'), key, JSON.stringify(timing)));
  }

  async usage(from: number, to: number): Promise<UsageRecord[]> {
    const rows = await this.call(() => this.client.zrangebyscore(this.key('usage'), from, `(${to}`));
    return rows.map((r) => JSON.parse(r) as UsageRecord);
  }

  private async mutate(
    id: string,
    from: JobStatus[],
    to: JobStatus | '',
    delta: number,
    patch: JobPatch,
    outbox?: OutboxIntent,
  ): Promise<Job | null> {
    const intent = outbox ? JSON.stringify(outbox) : '';
    const durable = to !== '' && isTerminal(to);
    const run = async (client: Redis & ScriptCommands) => {
      const reply = await this.call(() =>
        client.t2vMutate(
          this.key('job', id),
          this.keyPrefix,
          id,
          from.join(','),
          to,
          delta,
          intent,
          ...encode(patch),
        ),
      );
      if (reply && durable && !(await this.replicated(client))) {
        // Applied on the primary, which cannot be undone from here: say so, and carry on (a run
        // whose completion is lost with the primary is taken over and settles once more).
        this.logger.warn(
          { job_id: id },
          `${id} ${to}: fewer than ${this.durability.replicas} replicas confirmed it within ${this.durability.timeoutMs} ms`,
        );
      }
      return reply;
    };
    const reply = durable ? await this.onWriter(run) : await run(this.client);
    return reply ? decode(pairs(reply)) : null;
  }

  async delete(id: string): Promise<boolean> {
    return (
      (await this.call(() =>
        this.client.t2vDelete(this.key('job', id), this.key('jobs'), this.key('expiry'), this.keyPrefix, id),
      )) === 1
    );
  }

  async list(query: ListQuery): Promise<ListPage> {
    const desc = query.order === 'desc';
    let bound = desc ? '+inf' : '-inf';
    if (query.after) {
      const score = await this.call(() => this.client.zscore(this.key('jobs'), query.after!));
      if (score === null) return { data: [], hasMore: false };
      bound = `(${score}`;
    }
    const ids = await this.call(() =>
      desc
        ? this.client.zrevrangebyscore(this.key('jobs'), bound, '-inf', 'LIMIT', 0, query.limit + 1)
        : this.client.zrangebyscore(this.key('jobs'), bound, '+inf', 'LIMIT', 0, query.limit + 1),
    );
    const jobs = await this.getMany(ids.slice(0, query.limit));
    return { data: jobs, hasMore: ids.length > query.limit };
  }

  async count(status: JobStatus): Promise<number> {
    return this.call(() => this.client.zcard(this.key('status', status)));
  }

  async queuePosition(id: string): Promise<number | null> {
    const rank = await this.call(() => this.client.zrank(this.key('status', 'queued'), id));
    return rank === null ? null : rank + 1;
  }

  async byStatus(status: JobStatus): Promise<Job[]> {
    return this.getMany(await this.call(() => this.client.zrange(this.key('status', status), '0', '-1')));
  }

  async findByIdempotencyKey(key: string): Promise<Job | null> {
    const id = await this.call(() => this.client.get(this.key('idem', key)));
    return id ? this.get(id) : null;
  }

  async findCompletedByCacheKey(cacheKey: string): Promise<Job | null> {
    const ids = await this.call(() => this.client.zrevrange(this.key('cache', cacheKey), 0, -1));
    return (await this.getMany(ids)).find((j) => j.status === 'completed' && !j.expired) ?? null;
  }

  async findActiveByCacheKey(cacheKey: string): Promise<Job | null> {
    const ids = await this.call(() => this.client.zrange(this.key('cache', cacheKey), '0', '-1'));
    return (await this.getMany(ids)).find((j) => j.status === 'queued' || j.status === 'in_progress') ?? null;
  }

  async findExpired(now: number): Promise<Job[]> {
    const ids = await this.call(() => this.client.zrangebyscore(this.key('expiry'), '-inf', String(now)));
    return (await this.getMany(ids)).filter((j) => !j.expired && j.expiresAt !== null && j.expiresAt <= now);
  }

  /**
   * Under the rule `replicas` an entry is handed out only once the change that wrote it is on
   * enough replicas: the claim (a write, made after that change) is followed by WAIT on the same
   * connection, which covers every write the primary had made before it. A webhook therefore never
   * announces a change that a failover could still take back (the job would run again and be
   * announced a second time). Entries not confirmed in time are put back, due again shortly.
   */
  async claimDeliveries(now: number, leaseMs: number, limit: number): Promise<OutboxDelivery[]> {
    if (this.durability.rule === 'replicas') {
      if (!(await this.enoughReplicas())) return [];
      return this.onWriter(async (client) => {
        const claimed = await this.claimOn(client, now, leaseMs, limit);
        if (claimed.length === 0 || (await this.replicated(client))) return claimed;
        this.replicasOnline.at = 0;
        const again = Date.now() + this.durability.timeoutMs;
        await Promise.all(
          claimed.map((d) => this.rescheduleDelivery(d.id, again, d.attempts).catch(() => undefined)),
        );
        return [];
      });
    }
    return this.claimOn(this.client, now, leaseMs, limit);
  }

  private async claimOn(
    client: Redis & ScriptCommands,
    now: number,
    leaseMs: number,
    limit: number,
  ): Promise<OutboxDelivery[]> {
    const flat = await this.call(() =>
      client.t2vClaimDeliveries(this.key('outbox'), this.keyPrefix, now, now + leaseMs, limit),
    );
    const out: OutboxDelivery[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      out.push({
        ...(JSON.parse(flat[i]!) as OutboxIntent),
        job: JSON.parse(flat[i + 1]!) as Job,
        attempts: Number(flat[i + 2]),
      });
    }
    return out;
  }

  async rescheduleDelivery(id: string, dueAt: number, attempts: number): Promise<void> {
    await this.call(() =>
      this.client.t2vRescheduleDelivery(
        this.key('outbox', id),
        this.key('outbox'),
        this.keyPrefix,
        id,
        dueAt,
        attempts,
      ),
    );
  }

  async removeDelivery(id: string): Promise<void> {
    await this.call(() =>
      this.client.multi().del(this.key('outbox', id)).zrem(this.key('outbox'), id).exec(),
    );
  }

  /**
   * Redis answers and will not evict keys. Any `maxmemory-policy` but `noeviction` lets Redis
   * drop job records and queue entries under memory pressure, silently: refuse to be ready then.
   */
  async ping(): Promise<void> {
    const info = await this.call(() => this.client.info('memory'));
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy && policy !== 'noeviction') {
      throw new Error(
        `Redis maxmemory-policy is ${policy}; t2v needs noeviction (any other policy can silently drop jobs)`,
      );
    }
    if (this.durability.rule === 'fsync') await this.checkFsync();
  }

  /** The durability rule `fsync` holds only with AOF on and `appendfsync always`. */
  private async checkFsync(): Promise<void> {
    let conf: string[];
    try {
      conf = (await this.client.config('GET', 'append*')) as string[];
    } catch (err) {
      throw new Error(
        `T2V_REDIS_DURABILITY=fsync needs CONFIG GET to check the AOF settings: ${(err as Error).message}`,
      );
    }
    const got = pairs(conf);
    if (got['appendonly'] !== 'yes' || got['appendfsync'] !== 'always') {
      throw new Error(
        `T2V_REDIS_DURABILITY=fsync needs appendonly yes and appendfsync always; Redis has appendonly ${got['appendonly']}, appendfsync ${got['appendfsync']}`,
      );
    }
  }
}

/** Durable-write connections per store (rule `replicas`). */
const DURABLE_WRITERS = 4;

/** A client with t2v's scripts defined (each declares how many KEYS it takes). */
function scripted(client: Redis): Redis & ScriptCommands {
  client.defineCommand('t2vInsert', { numberOfKeys: 3, lua: INSERT });
  client.defineCommand('t2vMutate', { numberOfKeys: 1, lua: MUTATE });
  client.defineCommand('t2vClaim', { numberOfKeys: 1, lua: CLAIM });
  client.defineCommand('t2vDelete', { numberOfKeys: 3, lua: DELETE });
  client.defineCommand('t2vClaimDeliveries', { numberOfKeys: 1, lua: CLAIM_DELIVERIES });
  client.defineCommand('t2vRescheduleDelivery', { numberOfKeys: 2, lua: RESCHEDULE_DELIVERY });
  return client as Redis & ScriptCommands;
}

function encode(patch: object): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || k === 'seq') continue;
    out.push(k, JSON.stringify(v));
  }
  return out;
}

function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

function decode(hash: Record<string, string> | null): Job | null {
  if (!hash || !hash['status']) return null;
  const job: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(hash)) job[k] = JSON.parse(v);
  return job as unknown as Job;
}
