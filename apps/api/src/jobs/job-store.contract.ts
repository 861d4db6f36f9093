import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { AppConfig } from '../config/app-config';
import { StorageService } from '../storage/storage.service';
import type { EstimateService } from './estimates';
import { JobEvents } from './job-events';
import { JobLifecycle, OutboxSignal } from './job-lifecycle';
import { newJobRecord } from './job-record';
import type { JobStore, OutboxIntent } from './job-store';
import { type CallerPolicy, DEFAULT_POLICY, type FairPolicy } from './fair-queue';
import { CallerCapReached, IdempotencyKeyTaken } from './job-store.errors';
import type { Job } from './job.types';
import type { JobTransport } from './queue-driver';

/** A metric that records nothing: the job tests are about state, not figures. */
export const NO_METRIC = { inc() {}, set() {}, observe() {}, labels: () => NO_METRIC } as never;
/** Estimates that learn nothing: the runner tests are about outcomes, not timings. */
export const NO_ESTIMATES = { learn: async () => undefined } as unknown as EstimateService;
/** The transport of a single process: nobody else to tell. */
export const LOCAL_TRANSPORT: JobTransport = { publish() {}, cancel() {}, onJob() {}, onCancel() {} };

/**
 * A lifecycle over `store` that records every change it announces (in `published`); job files
 * live in a fresh temp directory (`storage`).
 */
export function lifecycleHarness(store: JobStore) {
  const storage = new StorageService({
    storageDir: fs.mkdtempSync(path.join(os.tmpdir(), 't2v-lifecycle-')),
  } as AppConfig);
  const events = new JobEvents({ transport: LOCAL_TRANSPORT });
  const published: Job[] = [];
  const publish = events.publish.bind(events);
  events.publish = (job: Job) => {
    published.push(job);
    publish(job);
  };
  const m = NO_METRIC;
  const lifecycle = new JobLifecycle(
    { outputTtlHours: 1, groupSize: 1, apiKeys: [], jwt: null },
    store,
    events,
    new OutboxSignal(),
    storage,
    m,
    m,
    m,
    m,
    m,
    m,
    m,
  );
  return { lifecycle, events, published, storage };
}

let counter = 0;
/** A valid job record for store tests: `newJobRecord` with small params and a readable id. */
export function sampleJob(overrides: Partial<Job> = {}): Omit<Job, 'seq'> {
  counter += 1;
  return newJobRecord({
    id: `video_${String(counter).padStart(26, '0')}`,
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
      image: null,
      loras: [],
    },
    ...overrides,
  });
}

/** Callers of the fairness cases: `key:heavy` weight 3, `key:capped` with caps, others the defaults. */
export const TEST_POLICY: FairPolicy = (caller) =>
  (
    ({
      'key:heavy': { weight: 3, maxQueued: null, maxRunning: null },
      'key:capped': { weight: 1, maxQueued: 2, maxRunning: 1 },
    }) as Record<string, CallerPolicy>
  )[caller] ?? DEFAULT_POLICY;

/**
 * The behaviour every queue/store driver must have. Run by each driver's spec with a factory
 * that returns a fresh, empty store with the callers' policy (`TEST_POLICY`).
 */
export function jobStoreContract(name: string, makeStore: (policy: FairPolicy) => Promise<JobStore>): void {
  describe(`JobStore contract: ${name}`, () => {
    let store: JobStore;
    beforeEach(async () => {
      store = await makeStore(TEST_POLICY);
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

    it('keeps user and adjusted through insert, claim and transitions', async () => {
      const adjusted = {
        size: { requested: '1280x720', used: '1280x704' },
        num_frames: { requested: 80, used: 81 },
      };
      const job = await store.insert(sampleJob({ user: 'user-42', adjusted }));
      expect(await store.get(job.id)).toMatchObject({ user: 'user-42', adjusted });
      expect(await store.claim(10)).toMatchObject({ id: job.id, user: 'user-42', adjusted });
      await store.transition(job.id, ['in_progress'], 'completed', { progress: 100, completedAt: 11 });
      expect(await store.get(job.id)).toMatchObject({ status: 'completed', user: 'user-42', adjusted });
      const [listed] = (await store.list({ limit: 1, order: 'desc' })).data;
      expect(listed).toMatchObject({ id: job.id, user: 'user-42', adjusted });
    });

    it('claims queued jobs in FIFO order, one at a time', async () => {
      const a = await store.insert(sampleJob());
      const b = await store.insert(sampleJob());
      const first = await store.claim(1000);
      expect(first).toMatchObject({ id: a.id, status: 'in_progress', attempts: 1, startedAt: 1000 });
      expect((await store.claim(1001))?.id).toBe(b.id);
      expect(await store.claim(1002)).toBeNull();
    });

    it('claims a queued job by id, once; never one that is running or ended', async () => {
      const a = await store.insert(sampleJob());
      const b = await store.insert(sampleJob());
      const claimed = await store.claim(2000, b.id);
      expect(claimed).toMatchObject({
        id: b.id,
        status: 'in_progress',
        attempts: 1,
        startedAt: 2000,
        progress: 0,
      });
      expect(await store.claim(2001, b.id)).toBeNull();
      expect(await store.queuePosition(a.id)).toBe(1);
      expect(await store.count('in_progress')).toBe(1);
      await store.transition(a.id, ['queued'], 'cancelled');
      expect(await store.claim(2002, a.id)).toBeNull();
      expect(await store.claim(2003, 'video_missing')).toBeNull();
    });

    it('reports queue positions and counts', async () => {
      const a = await store.insert(sampleJob());
      const b = await store.insert(sampleJob());
      expect(await store.queuePosition(a.id)).toBe(1);
      expect(await store.queuePosition(b.id)).toBe(2);
      await store.claim(1);
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
      await store.markExpired(a.id);
      expect(await store.findCompletedByCacheKey('c')).toBeNull();
    });

    it('lists expired outputs once', async () => {
      const a = await store.insert(sampleJob({ status: 'completed', expiresAt: 100 }));
      await store.insert(sampleJob({ status: 'completed', expiresAt: 10_000 }));
      expect((await store.findExpired(200)).map((j) => j.id)).toEqual([a.id]);
      await store.markExpired(a.id);
      expect(await store.findExpired(200)).toEqual([]);
    });

    const intent = (id: string, at = 1000): OutboxIntent => ({
      id,
      event: 'video.completed',
      url: 'https://example.test/hook',
      at,
    });

    it('commits a webhook with the status change, and none when the change does not happen', async () => {
      const a = await store.insert(sampleJob());
      expect(await store.transition(a.id, ['in_progress'], 'completed', {}, intent('msg_a'))).toBeNull();
      expect(await store.claimDeliveries(5000, 1000, 10)).toEqual([]);
      await store.transition(a.id, ['queued'], 'completed', { progress: 100 }, intent('msg_a'));
      const [d, ...rest] = await store.claimDeliveries(5000, 1000, 10);
      expect(rest).toEqual([]);
      expect(d).toMatchObject({ ...intent('msg_a'), attempts: 0 });
      // The job as the change left it, whatever happens to the record later.
      expect(d!.job).toMatchObject({ id: a.id, status: 'completed', progress: 100, seq: a.seq });
    });

    it('commits a webhook with an insert (a cached result)', async () => {
      const a = await store.insert(sampleJob({ status: 'completed' }), intent('msg_c', 10));
      const [d] = await store.claimDeliveries(10, 1000, 10);
      expect(d).toMatchObject({ id: 'msg_c', job: { id: a.id, status: 'completed' } });
    });

    it('leases, reschedules and removes outbox entries', async () => {
      const a = await store.insert(sampleJob());
      await store.transition(a.id, ['queued'], 'failed', {}, intent('msg_1', 100));
      const b = await store.insert(sampleJob());
      await store.transition(b.id, ['queued'], 'cancelled', {}, intent('msg_2', 5000));
      // Only what is due, and a leased entry is nobody else's until the lease ends.
      expect((await store.claimDeliveries(200, 1000, 10)).map((d) => d.id)).toEqual(['msg_1']);
      expect(await store.claimDeliveries(300, 1000, 10)).toEqual([]);
      expect((await store.claimDeliveries(1300, 1000, 10)).map((d) => d.id)).toEqual(['msg_1']);
      await store.rescheduleDelivery('msg_1', 2000, 1);
      expect(await store.claimDeliveries(1999, 1000, 10)).toEqual([]);
      const [again] = await store.claimDeliveries(2000, 1000, 10);
      expect(again).toMatchObject({ id: 'msg_1', attempts: 1 });
      await store.removeDelivery('msg_1');
      expect((await store.claimDeliveries(10_000, 1000, 10)).map((d) => d.id)).toEqual(['msg_2']);
      // A batch is bounded.
      for (let i = 0; i < 3; i++) {
        const j = await store.insert(sampleJob());
        await store.transition(j.id, ['queued'], 'failed', {}, intent(`msg_b${i}`, 20_000));
      }
      expect(await store.claimDeliveries(30_000, 1000, 2)).toHaveLength(2);
    });

    describe('fair turns', () => {
      const queue = (caller: string, n: number) =>
        Promise.all(Array.from({ length: n }, () => store.insert(sampleJob({ caller }))));
      const insertInOrder = async (caller: string, n: number) => {
        const jobs: Job[] = [];
        for (let i = 0; i < n; i++) jobs.push(await store.insert(sampleJob({ caller })));
        return jobs;
      };

      it('A queues 50, then B queues one: B starts next, and queue_position says so', async () => {
        const a = await insertInOrder('key:a', 50);
        // A's first job starts on a free worker at once.
        expect((await store.claim(1))?.id).toBe(a[0]!.id);
        const [b] = await queue('key:b', 1);
        expect(await store.queuePosition(b!.id)).toBe(1);
        expect(await store.queuePosition(a[1]!.id)).toBe(2);
        expect(await store.queuePosition(a[49]!.id)).toBe(50);
        expect((await store.claim(2))?.id).toBe(b!.id);
        // Within one caller, first in first out.
        for (let i = 1; i < 50; i++) expect((await store.claim(3 + i))?.id).toBe(a[i]!.id);
        expect(await store.claim(100)).toBeNull();
      });

      it('weights 3:1 give starts 3:1 over a long run, each caller FIFO', async () => {
        const heavy = await insertInOrder('key:heavy', 120);
        const light = await insertInOrder('key:light', 120);
        const starts: Job[] = [];
        for (let i = 0; i < 120; i++) starts.push((await store.claim(10 + i))!);
        const fromHeavy = starts.filter((j) => j.caller === 'key:heavy');
        const fromLight = starts.filter((j) => j.caller === 'key:light');
        expect(fromHeavy).toHaveLength(90);
        expect(fromLight).toHaveLength(30);
        // In every window of 8 starts, 6 ± 1 are the heavy caller's.
        for (let w = 0; w + 8 <= starts.length; w += 8) {
          const n = starts.slice(w, w + 8).filter((j) => j.caller === 'key:heavy').length;
          expect(Math.abs(n - 6)).toBeLessThanOrEqual(1);
        }
        expect(fromHeavy.map((j) => j.id)).toEqual(heavy.slice(0, 90).map((j) => j.id));
        expect(fromLight.map((j) => j.id)).toEqual(light.slice(0, 30).map((j) => j.id));
        // Positions follow the order claims take.
        const rest = [];
        for (const j of [...heavy, ...light]) {
          const pos = await store.queuePosition(j.id);
          if (pos !== null) rest.push({ id: j.id, pos });
        }
        rest.sort((x, y) => x.pos - y.pos);
        expect(rest.map((r) => r.pos)).toEqual(rest.map((_, i) => i + 1));
        for (const r of rest) expect((await store.claim(500))?.id).toBe(r.id);
      });

      it('a late caller does not get turns saved up while it was away', async () => {
        await insertInOrder('key:a', 10);
        for (let i = 0; i < 6; i++) await store.claim(i);
        const [b1, b2] = await insertInOrder('key:b', 2);
        // B shares from now on: one of its jobs, then alternating with A.
        expect((await store.claim(10))?.id).toBe(b1!.id);
        expect((await store.claim(11))?.caller).toBe('key:a');
        expect((await store.claim(12))?.id).toBe(b2!.id);
      });

      it('refuses a caller past its queued cap, naming it; other callers are not affected', async () => {
        await queue('key:capped', 2);
        const refused = await store.insert(sampleJob({ caller: 'key:capped' })).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(CallerCapReached);
        expect(refused).toMatchObject({ caller: 'key:capped', cap: 'max_queued', limit: 2 });
        await expect(store.insert(sampleJob({ caller: 'key:other' }))).resolves.toBeTruthy();
        const first = await store.claim(1);
        expect(first?.caller).toBe('key:capped');
        // One of its two left the queue: room for one more.
        await expect(store.insert(sampleJob({ caller: 'key:capped' }))).resolves.toBeTruthy();
        expect(await store.count('queued')).toBe(3);
      });

      it('runs no more of a caller at once than its running cap; the others go first meanwhile', async () => {
        const capped = await insertInOrder('key:capped', 2);
        const [other] = await queue('key:other', 1);
        expect((await store.claim(1))?.id).toBe(capped[0]!.id);
        expect((await store.claim(2))?.id).toBe(other!.id);
        expect(await store.claim(3)).toBeNull();
        await store.transition(capped[0]!.id, ['in_progress'], 'completed', { completedAt: 4 });
        expect((await store.claim(5))?.id).toBe(capped[1]!.id);
      });

      it('a job back in the queue (a retry, a hand-back) keeps its turn', async () => {
        const [a1, a2] = await insertInOrder('key:a', 2);
        const claimed = await store.claim(1);
        expect(claimed?.id).toBe(a1!.id);
        await store.transition(a1!.id, ['in_progress'], 'queued', { startedAt: null });
        expect(await store.queuePosition(a1!.id)).toBe(1);
        expect(await store.queuePosition(a2!.id)).toBe(2);
        expect(await store.claim(2, undefined, 'delivery-1')).toMatchObject({
          id: a1!.id,
          carrier: 'delivery-1',
        });
      });
    });

    it('keeps learned timings by shape, the last write winning', async () => {
      expect(await store.timings()).toEqual({});
      await store.saveTiming('m|320x192|25|auto', { stepS: 0.5, postS: 1, n: 1, at: 10 });
      await store.saveTiming('m|320x192|25|auto', { stepS: 0.4, postS: 1.2, n: 2, at: 20 });
      await store.saveTiming('m|640x352|25|auto', { stepS: 2, postS: 3, n: 1, at: 30 });
      expect(await store.timings()).toEqual({
        'm|320x192|25|auto': { stepS: 0.4, postS: 1.2, n: 2, at: 20 },
        'm|640x352|25|auto': { stepS: 2, postS: 3, n: 1, at: 30 },
      });
    });

    describe('usage', () => {
      it('records each job once at its end, in the same write, and keeps it when the job is deleted', async () => {
        const a = await store.insert(sampleJob({ caller: 'key:a' }));
        await store.claim(1000);
        await store.transition(a.id, ['in_progress'], 'in_progress', { progress: 50 });
        expect(await store.usage(0, 1e15)).toEqual([]);
        await store.transition(a.id, ['in_progress'], 'completed', { completedAt: 5000, gpuSeconds: 8.0004 });
        await store.transition(a.id, ['completed'], 'completed', { completedAt: 6000 });
        const b = await store.insert(sampleJob({ caller: 'key:b' }));
        await store.transition(b.id, ['queued'], 'cancelled', { completedAt: 7000 });
        const cached = await store.insert(
          sampleJob({ caller: 'key:b', status: 'completed', completedAt: 8000, cached: true }),
        );
        await store.delete(a.id);
        const usage = await store.usage(0, 1e15);
        expect(usage).toHaveLength(3);
        expect(usage.find((u) => u.jobId === a.id)).toEqual({
          jobId: a.id,
          caller: 'key:a',
          model: 't2v-synthetic',
          outcome: 'completed',
          endedAt: 5000,
          outputSeconds: 1.042,
          frames: 25,
          gpuSeconds: 8,
          cached: false,
        });
        expect(usage.find((u) => u.jobId === b.id)).toMatchObject({
          outcome: 'cancelled',
          frames: 0,
          gpuSeconds: 0,
        });
        expect(usage.find((u) => u.jobId === cached.id)).toMatchObject({
          outcome: 'completed',
          cached: true,
          endedAt: 8000,
        });
        expect((await store.usage(5000, 7000)).map((u) => u.jobId)).toEqual([a.id]);
      });
    });

    it('deletes', async () => {
      const a = await store.insert(sampleJob());
      expect(await store.delete(a.id)).toBe(true);
      expect(await store.get(a.id)).toBeNull();
      expect(await store.delete(a.id)).toBe(false);
    });
  });
}
