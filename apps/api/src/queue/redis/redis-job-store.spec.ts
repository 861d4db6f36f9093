import { type RedisServer, startRedis } from '../../../test/support/redis-server';
import { jobStoreContract, sampleJob } from '../../jobs/job-store.contract';
import {
  IdempotencyKeyTaken,
  IdenticalJobActive,
  QueueFull,
  StoreUnavailable,
} from '../../jobs/job-store.errors';
import { RedisJobStore } from './redis-job-store';

let redis: RedisServer;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

// A fresh, empty store per test: its own key prefix on the shared server.
jobStoreContract('redis', async () => new RedisJobStore(redis.url, `t2v-test-${++n}`));

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
    await a.claimNext(1);
    await expect(b.insert(sampleJob())).resolves.toBeTruthy();
  });

  it('claims a job once, and again only with one more attempt (takeover)', async () => {
    const job = await a.insert(sampleJob());
    const first = await a.claim(job.id, 10);
    expect(first).toMatchObject({ status: 'in_progress', attempts: 1, startedAt: 10 });
    expect(await b.claimNext(11)).toBeNull();
    const second = await b.claim(job.id, 20);
    expect(second).toMatchObject({ status: 'in_progress', attempts: 2, startedAt: 20 });
    await b.transition(job.id, ['in_progress'], 'completed');
    expect(await a.claim(job.id, 30)).toBeNull();
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
