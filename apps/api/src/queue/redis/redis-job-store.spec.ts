import { type RedisProcess, startOneSlotCluster, startRedis } from '@t2v/testing/redis';
import { jobStoreContract, sampleJob } from '../../jobs/job-store.contract';
import {
  IdempotencyKeyTaken,
  IdenticalJobActive,
  NotDurable,
  QueueFull,
  StoreUnavailable,
} from '../../jobs/job-store.errors';
import { RedisJobStore } from './redis-job-store';

let redis: RedisProcess;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

// A fresh, empty store per test: its own key prefix on the shared server.
jobStoreContract(
  'redis',
  async (policy) => new RedisJobStore(redis.url, `t2v-test-${++n}`, 0, undefined, policy),
);

describe('RedisJobStore across replicas', () => {
  let a: RedisJobStore;
  let b: RedisJobStore;
  beforeEach(async () => {
    const prefix = `t2v-pair-${++n}`;
    a = new RedisJobStore(redis.url, prefix, 3);
    b = new RedisJobStore(redis.url, prefix, 3);
    await a.open();
    await b.open();
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('gives one Idempotency-Key to exactly one of many concurrent inserts', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).insert(sampleJob({ idempotencyKey: 'same' }))),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<{ id: string }>).value.id;
    for (const r of results.filter((r) => r.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(IdempotencyKeyTaken);
      expect((r as PromiseRejectedResult).reason.existingId).toBe(winner);
    }
    expect((await b.findByIdempotencyKey('same'))?.id).toBe(winner);
  });

  it('attaches identical cacheable jobs to the one in flight, atomically', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).insert(sampleJob({ cacheKey: 'k' }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      results
        .filter((r) => r.status === 'rejected')
        .every((r) => (r as PromiseRejectedResult).reason instanceof IdenticalJobActive),
    ).toBe(true);
    const active = await a.findActiveByCacheKey('k');
    await b.transition(active!.id, ['queued'], 'completed');
    // Once it is done, a new identical job may be queued again.
    await expect(a.insert(sampleJob({ cacheKey: 'k' }))).resolves.toBeTruthy();
  });

  it('bounds the shared queue', async () => {
    for (let i = 0; i < 3; i++) await (i % 2 ? a : b).insert(sampleJob());
    await expect(a.insert(sampleJob())).rejects.toBeInstanceOf(QueueFull);
    await expect(b.insert(sampleJob())).rejects.toBeInstanceOf(QueueFull);
    await a.claim(1);
    await expect(b.insert(sampleJob())).resolves.toBeTruthy();
  });

  it('claims a job once across replicas; a takeover goes back to the queue first, with the attempt counted', async () => {
    const job = await a.insert(sampleJob());
    const first = await a.claim(10, job.id);
    expect(first).toMatchObject({ status: 'in_progress', attempts: 1, startedAt: 10 });
    expect(await b.claim(11)).toBeNull();
    expect(await b.claim(12, job.id)).toBeNull();
    // What the lifecycle's retry rule does for a replica that stopped: queued again, then claimed.
    await b.transition(job.id, ['in_progress'], 'queued', { startedAt: null, progress: 0 });
    const second = await b.claim(20, job.id);
    expect(second).toMatchObject({ status: 'in_progress', attempts: 2, startedAt: 20 });
    await b.transition(job.id, ['in_progress'], 'completed');
    expect(await a.claim(30, job.id)).toBeNull();
  });

  it('refuses to be ready under an evicting maxmemory-policy, naming it', async () => {
    await a.ping();
    await a.client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      await expect(b.ping()).rejects.toThrow(/maxmemory-policy is allkeys-lru; t2v needs noeviction/);
    } finally {
      await a.client.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });

  it('fails fast with StoreUnavailable when Redis is gone', async () => {
    const other = await startRedis();
    const store = new RedisJobStore(other.url, 'gone');
    await store.open();
    await other.kill();
    const started = Date.now();
    await expect(store.insert(sampleJob())).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(store.get('video_x')).rejects.toBeInstanceOf(StoreUnavailable);
    expect(Date.now() - started).toBeLessThan(1000);
    await store.close();
  });
});

describe('RedisJobStore key layout', () => {
  it('keeps every key of a deployment under its hash tag, so they share one Cluster slot', async () => {
    const store = new RedisJobStore(redis.url, `t2v-layout-${++n}`);
    await store.open();
    try {
      const job = await store.insert(sampleJob({ idempotencyKey: 'i', cacheKey: 'c' }));
      await store.transition(
        job.id,
        ['queued'],
        'completed',
        { expiresAt: Date.now() + 1000 },
        {
          id: 'wh_1',
          at: Date.now(),
          event: 'video.completed',
          url: 'https://example.com/hook',
        },
      );
      const keys = await store.client.keys(`*t2v-layout-${n}*`);
      expect(keys.length).toBeGreaterThan(5);
      for (const k of keys) expect(k.startsWith(`{t2v-layout-${n}}:`)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('moves the keys of the earlier layout (t2v:…) to the hash-tagged one at the first boot', async () => {
    const prefix = `t2v-legacy-${++n}`;
    const old = new RedisJobStore(redis.url, prefix);
    await old.open();
    const job = await old.insert(sampleJob({ idempotencyKey: 'kept' }));
    // Rename the records the way the earlier version wrote them.
    for (const k of await old.client.keys(`{${prefix}}:*`)) {
      await old.client.rename(k, `${prefix}:${k.slice(prefix.length + 3)}`);
    }
    await old.close();
    const store = new RedisJobStore(redis.url, prefix);
    await store.open();
    try {
      expect(await store.get(job.id)).toMatchObject({ id: job.id, status: 'queued' });
      expect((await store.findByIdempotencyKey('kept'))?.id).toBe(job.id);
      expect(await store.count('queued')).toBe(1);
      expect(await store.client.keys(`${prefix}:*`)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe('RedisJobStore durability rules', () => {
  it('replicas: an insert is acknowledged once a replica has it, and refused (taken back) without one', async () => {
    const replica = await startRedis({ replicaOf: redis.port });
    // A generous timeout: on a loaded machine the replica still confirms; the refusal below
    // must not need it (the store sees the replica gone and refuses before writing).
    const rule = { rule: 'replicas' as const, replicas: 1, timeoutMs: 2000 };
    const store = new RedisJobStore(redis.url, `t2v-wait-${++n}`, 0, rule);
    await store.open();
    try {
      await waitForReplica(store);
      const job = await store.insert(sampleJob({ idempotencyKey: 'w' }));
      // WAIT returned: the replica has the record (read it there).
      const onReplica = new RedisJobStore(replica.url, store.prefix);
      await onReplica.open();
      expect(await onReplica.get(job.id)).toMatchObject({ id: job.id });
      await onReplica.close();
      await replica.kill();
      await new Promise((r) => setTimeout(r, 300)); // the store's view of the replicas is 250 ms old at most
      const started = Date.now();
      const refused = await store.insert(sampleJob({ idempotencyKey: 'lost' })).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(NotDurable);
      expect(refused).toBeInstanceOf(StoreUnavailable);
      expect(Date.now() - started).toBeLessThan(1000);
      // Taken back: the key is free again, and nothing is queued for it.
      expect(await store.findByIdempotencyKey('lost')).toBeNull();
      expect(await store.count('queued')).toBe(1);
    } finally {
      await store.close();
      await replica.kill();
    }
  });

  it('replicas: a webhook is handed out only once its change is on a replica', async () => {
    const replica = await startRedis({ replicaOf: redis.port });
    // Generous, as above: on a loaded machine a replica that has just synced still confirms the insert.
    const rule = { rule: 'replicas' as const, replicas: 1, timeoutMs: 2000 };
    const store = new RedisJobStore(redis.url, `t2v-outbox-${++n}`, 0, rule);
    await store.open();
    try {
      await waitForReplica(store);
      const job = await store.insert(sampleJob({ status: 'in_progress' }));
      // The replica stays connected (the primary still counts it online) but answers nothing:
      // what a replica far behind looks like to WAIT.
      replica.pause();
      const at = Date.now();
      const intent = { id: 'msg_1', event: 'video.completed' as const, url: 'http://127.0.0.1:9/h', at };
      expect(await store.transition(job.id, ['in_progress'], 'completed', {}, intent)).toMatchObject({
        status: 'completed',
      });
      // Due at once, but not confirmed by a replica: not handed out, and put back.
      expect(await store.claimDeliveries(Date.now(), 10_000, 10)).toEqual([]);
      const due = Number(await store.client.zscore(store.key('outbox'), 'msg_1'));
      expect(due).toBeGreaterThan(Date.now());
      expect(due).toBeLessThan(Date.now() + 10_000); // not left for the whole lease
      replica.resume();
      let claimed: Awaited<ReturnType<RedisJobStore['claimDeliveries']>> = [];
      const until = Date.now() + 10_000;
      while (claimed.length === 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        claimed = await store.claimDeliveries(Date.now(), 10_000, 10);
      }
      expect(claimed.map((d) => [d.id, d.job.status])).toEqual([['msg_1', 'completed']]);
      // Handed out after WAIT: the replica has the completion it announces.
      const onReplica = new RedisJobStore(replica.url, store.prefix);
      await onReplica.open();
      expect(await onReplica.get(job.id)).toMatchObject({ status: 'completed' });
      await onReplica.close();
    } finally {
      replica.resume();
      await store.close();
      await replica.kill();
    }
  });

  it('fsync: ready only with appendonly yes and appendfsync always, naming what is wrong', async () => {
    const store = new RedisJobStore(redis.url, `t2v-fsync-${++n}`, 0, {
      rule: 'fsync',
      replicas: 1,
      timeoutMs: 500,
    });
    await store.open();
    try {
      await expect(store.ping()).rejects.toThrow(
        /T2V_REDIS_DURABILITY=fsync needs appendonly yes and appendfsync always; Redis has appendonly no, appendfsync everysec/,
      );
      await store.client.config('SET', 'appendonly', 'yes');
      await store.client.config('SET', 'appendfsync', 'always');
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.client.config('SET', 'appendonly', 'no');
      await store.client.config('SET', 'appendfsync', 'everysec');
      await store.close();
    }
  });
});

/** Until the primary counts a connected, synced replica. */
async function waitForReplica(store: RedisJobStore): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const info = await store.client.info('replication');
    if (/slave0:.*state=online/.test(info)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the replica did not come online');
}

describe('RedisJobStore on a Redis Cluster whose node serves only the slot of {t2v}', () => {
  let cluster: Awaited<ReturnType<typeof startOneSlotCluster>>;
  beforeAll(async () => {
    cluster = await startOneSlotCluster('t2v');
  });
  afterAll(async () => {
    await cluster.stop();
  });

  // Every key, script and MULTI of the store must stay in that one slot, or the node refuses it.
  jobStoreContract('redis cluster, one slot', async (policy) => {
    const store = new RedisJobStore(cluster.owner.url, 't2v');
    await store.open();
    await store.client.flushall();
    await store.close();
    return new RedisJobStore(cluster.owner.url, 't2v', 0, undefined, policy);
  });

  it('is a real refusal: a key in another slot, in a command or a script, is refused', async () => {
    const store = new RedisJobStore(cluster.owner.url, 't2v');
    await store.open();
    try {
      await expect(store.client.get('t2v:seq')).rejects.toThrow(/MOVED/);
      await expect(
        store.client.eval("redis.call('GET', KEYS[1]); return redis.call('GET', 't2v:seq')", 1, '{t2v}:seq'),
      ).rejects.toThrow(/non local key/);
      await store.client.get('{t2v}:seq'); // its own slot: served
    } finally {
      await store.close();
    }
  });
});
