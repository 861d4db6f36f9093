import type { JobStore } from './job-store';
import { IdempotencyKeyTaken } from './job-store.errors';
import type { Job } from './job.types';

let counter = 0;
/** A valid job record for store tests. */
export function sampleJob(overrides: Partial<Job> = {}): Omit<Job, 'seq'> {
  counter += 1;
  return {
    id: `video_${String(counter).padStart(26, '0')}`,
    status: 'queued',
    model: 't2v-synthetic',
    params: {
      prompt: 'p',
      negative_prompt: null,
      width: 320,
      height: 192,
      num_frames: 25,
      fps: 24,
      num_inference_steps: 4,
      guidance_scale: 5,
      seed: 1,
      flow_shift: null,
      acceleration: 'auto',
    },
    seedExplicit: false,
    seconds: '1',
    metadata: {},
    webhookUrl: null,
    createdAt: Date.now(),
    startedAt: null,
    completedAt: null,
    expiresAt: null,
    progress: 0,
    attempts: 0,
    errorCode: null,
    errorMessage: null,
    cacheKey: null,
    cached: false,
    idempotencyKey: null,
    requestHash: null,
    timings: { queue_s: null, load_s: null, inference_s: null, encode_s: null },
    expired: false,
    ...overrides,
  };
}

/**
 * The behaviour every queue/store driver must have. Run by each driver's spec with a factory
 * that returns a fresh, empty store.
 */
export function jobStoreContract(name: string, makeStore: () => Promise<JobStore>): void {
  describe(`JobStore contract: ${name}`, () => {
    let store: JobStore;
    beforeEach(async () => {
      store = await makeStore();
      await store.open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('inserts and reads back a job exactly', async () => {
      const job = sampleJob({ metadata: { a: 'b' } });
      const inserted = await store.insert(job);
      expect(inserted.seq).toBeGreaterThan(0);
      expect(await store.get(job.id)).toEqual(inserted);
      expect(await store.get('video_missing')).toBeNull();
    });

    it('claims queued jobs in FIFO order, one at a time', async () => {
      const a = await store.insert(sampleJob());
      const b = await store.insert(sampleJob());
      const first = await store.claimNext(1000);
      expect(first).toMatchObject({ id: a.id, status: 'in_progress', attempts: 1, startedAt: 1000 });
      expect((await store.claimNext(1001))?.id).toBe(b.id);
      expect(await store.claimNext(1002)).toBeNull();
    });

    it('reports queue positions and counts', async () => {
      const a = await store.insert(sampleJob());
      const b = await store.insert(sampleJob());
      expect(await store.queuePosition(a.id)).toBe(1);
      expect(await store.queuePosition(b.id)).toBe(2);
      await store.claimNext(1);
      expect(await store.queuePosition(a.id)).toBeNull();
      expect(await store.queuePosition(b.id)).toBe(1);
      expect(await store.count('queued')).toBe(1);
      expect(await store.count('in_progress')).toBe(1);
    });

    it('transitions only from the given states', async () => {
      const a = await store.insert(sampleJob());
      expect(await store.transition(a.id, ['in_progress'], 'completed')).toBeNull();
      const c = await store.transition(a.id, ['queued'], 'cancelled', { completedAt: 5 });
      expect(c).toMatchObject({ status: 'cancelled', completedAt: 5 });
      expect(await store.transition(a.id, ['queued'], 'in_progress')).toBeNull();
    });

    it('pages in both orders with an opaque cursor', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.insert(sampleJob())).id);
      const p1 = await store.list({ limit: 2, order: 'asc' });
      expect(p1.data.map((j) => j.id)).toEqual(ids.slice(0, 2));
      expect(p1.hasMore).toBe(true);
      const p2 = await store.list({ limit: 10, order: 'asc', after: ids[1] });
      expect(p2.data.map((j) => j.id)).toEqual(ids.slice(2));
      expect(p2.hasMore).toBe(false);
      const d = await store.list({ limit: 2, order: 'desc', after: ids[3] });
      expect(d.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
      expect((await store.list({ limit: 2, order: 'asc', after: 'video_unknown' })).data).toEqual([]);
    });

    it('finds by idempotency key and refuses a second job with the same key', async () => {
      const a = await store.insert(sampleJob({ idempotencyKey: 'k1' }));
      expect((await store.findByIdempotencyKey('k1'))?.id).toBe(a.id);
      const second = await store.insert(sampleJob({ idempotencyKey: 'k1' })).catch((e: unknown) => e);
      expect(second).toBeInstanceOf(IdempotencyKeyTaken);
      expect((second as IdempotencyKeyTaken).existingId).toBe(a.id);
    });

    it('finds cache hits and identical jobs in flight', async () => {
      const a = await store.insert(sampleJob({ cacheKey: 'c' }));
      expect((await store.findActiveByCacheKey('c'))?.id).toBe(a.id);
      expect(await store.findCompletedByCacheKey('c')).toBeNull();
      await store.transition(a.id, ['queued'], 'completed');
      expect(await store.findActiveByCacheKey('c')).toBeNull();
      expect((await store.findCompletedByCacheKey('c'))?.id).toBe(a.id);
      await store.update(a.id, { expired: true });
      expect(await store.findCompletedByCacheKey('c')).toBeNull();
    });

    it('lists expired outputs once', async () => {
      const a = await store.insert(sampleJob({ status: 'completed', expiresAt: 100 }));
      await store.insert(sampleJob({ status: 'completed', expiresAt: 10_000 }));
      expect((await store.findExpired(200)).map((j) => j.id)).toEqual([a.id]);
      await store.update(a.id, { expired: true });
      expect(await store.findExpired(200)).toEqual([]);
    });

    it('deletes', async () => {
      const a = await store.insert(sampleJob());
      expect(await store.delete(a.id)).toBe(true);
      expect(await store.get(a.id)).toBeNull();
      expect(await store.delete(a.id)).toBe(false);
    });
  });
}
