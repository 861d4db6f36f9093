import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { SqliteJobStore } from '../queue/embedded/sqlite-job-store';
import type { Capacity, CapacityService } from './capacity.service';
import { EstimateService, learnTiming, runSeconds, shapeKey, type ShapeTiming } from './estimates';
import { sampleJob } from './job-store.contract';
import type { Job } from './job.types';

const capacityOf = (loaded: number) =>
  ({
    now: async (): Promise<Capacity> => ({
      workers: loaded,
      idle: loaded,
      busy: 0,
      starting: 0,
      failed: 0,
      failures: [],
    }),
  }) as unknown as CapacityService;

const file = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-eta-')), 'jobs.sqlite');

/** A completed run of `job`: `inference_s` over its steps, `wall_s` from start to end. */
function completed(job: Job, inferenceS: number, wallS: number, at = 1_000_000): Job {
  return {
    ...job,
    status: 'completed',
    startedAt: at - wallS * 1000,
    completedAt: at,
    timings: { ...job.timings, inference_s: inferenceS },
  };
}

describe('the estimate model', () => {
  it('learns step and post times per shape as moving averages', () => {
    let t: ShapeTiming | undefined;
    t = learnTiming(t, 1, 2, 10);
    expect(t).toEqual({ stepS: 1, postS: 2, n: 1, at: 10 });
    t = learnTiming(t, 2, 2, 20);
    expect(t.stepS).toBeCloseTo(1.3);
    expect(t.n).toBe(2);
  });

  it('times a shape from its own runs, scales another shape of the model by pixels × frames, else knows nothing', () => {
    const small = sampleJob(); // 320×192×25, 4 steps
    const timings = new Map([[shapeKey(small), { stepS: 0.5, postS: 1, n: 3, at: 0 }]]);
    expect(
      runSeconds({ ...small, params: { ...small.params, num_inference_steps: 10 } }, timings),
    ).toBeCloseTo(6);
    const double = { ...small, params: { ...small.params, width: 640 } };
    expect(runSeconds(double, timings)).toBeCloseTo((4 * 0.5 + 1) * 2);
    expect(runSeconds({ ...small, model: 'other' }, timings)).toBeNull();
  });
});

describe('EstimateService', () => {
  let store: SqliteJobStore;
  let dbFile: string;
  beforeEach(async () => {
    dbFile = file();
    store = new SqliteJobStore(dbFile);
    await store.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('gives none until a comparable run finished, then plays the queue forward over the loaded workers', async () => {
    const eta = new EstimateService(store, capacityOf(1));
    const a = await store.insert(sampleJob());
    const b = await store.insert(sampleJob());
    expect(await eta.of(a)).toBeNull();
    // One run of this shape: 4 steps of 0.5 s, 1 s outside them.
    await eta.learn(completed(a, 2, 3));
    const now = Date.now();
    const running = (await store.claim(now - 1000))!;
    const r = await eta.of(running);
    expect(r!.startAt).toBe(now - 1000);
    expect(r!.completionAt).toBeCloseTo(now + 2000, -2);
    const q = await eta.of((await store.get(b.id))!);
    expect(q!.startAt).toBeCloseTo(now + 2000, -2);
    expect(q!.completionAt).toBeCloseTo(now + 5000, -2);
  });

  it('splits the queue over two workers and gives none while no worker is loaded', async () => {
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(await store.insert(sampleJob()));
    const two = new EstimateService(store, capacityOf(2));
    await two.learn(completed(jobs[0]!, 2, 3));
    const starts = await Promise.all(jobs.map(async (j) => (await two.of(j))!.startAt - Date.now()));
    expect(starts[0]).toBeLessThan(100);
    expect(starts[1]).toBeLessThan(100);
    expect(starts[2]).toBeGreaterThan(2900);
    const none = new EstimateService(store, capacityOf(0));
    expect(await none.of(jobs[0]!)).toBeNull();
  });

  it('persists what it learned: a restarted process (or another replica) estimates at once', async () => {
    const job = await store.insert(sampleJob());
    await new EstimateService(store, capacityOf(1)).learn(completed(job, 2, 3));
    await store.close();
    store = new SqliteJobStore(dbFile);
    await store.open();
    const fresh = new EstimateService(store, capacityOf(1));
    expect(await fresh.of((await store.get(job.id))!)).not.toBeNull();
  });
});
