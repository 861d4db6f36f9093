import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type RedisProcess, startRedis } from '@t2v/testing/redis';
import { EmbeddedDispatcher } from '../queue/embedded/embedded-dispatcher';
import { SqliteJobStore } from '../queue/embedded/sqlite-job-store';
import { RedisDispatcher } from '../queue/redis/redis-dispatcher';
import type { RedisEventBus } from '../queue/redis/redis-event-bus';
import { RedisGpuRegistry } from '../queue/redis/redis-gpu-registry';
import { RedisJobStore } from '../queue/redis/redis-job-store';
import { type OutputStore, StorageFailed } from '../storage/output-store';
import type { WorkerPoolService } from '../worker-pool/worker-pool.service';
import type { RunOutcome, WorkerSupervisor } from '../worker-pool/worker-supervisor';
import type { JobLifecycle } from './job-lifecycle';
import { JobEvents } from './job-events';
import { JobRunner } from './job-runner';
import { LOCAL_TRANSPORT, lifecycleHarness, NO_ESTIMATES, sampleJob } from './job-store.contract';
import type { Job } from './job.types';
import type { DispatchContext } from './queue-driver';
import { ShutdownService } from './shutdown.service';

const transport = LOCAL_TRANSPORT;
const harness = lifecycleHarness;

/** A pool with no loaded worker: dispatchers start but run nothing. */
function idlePool(): WorkerPoolService {
  return Object.assign(new EventEmitter(), {
    workers: [],
    acquire: () => null,
    find: () => undefined,
    hasLoadedWorker: () => false,
  }) as unknown as WorkerPoolService;
}

/**
 * Every path that puts a running job back in the queue goes through the lifecycle (`retry`, the one
 * retry rule, or `handBack`): each announces exactly one change (status queued, progress 0, no
 * start time) and counts attempts by the one rule (a crash or a lost run counts; a shutdown
 * hand-back does not).
 */
describe('requeue paths', () => {
  let store: SqliteJobStore;
  beforeEach(async () => {
    store = new SqliteJobStore(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-requeue-')), 'j.sqlite'));
    await store.open();
  });
  afterEach(() => store.close());

  const expectOneRequeue = (published: Job[], id: string, attempts: number) => {
    expect(published.map((j) => [j.id, j.status, j.progress, j.startedAt, j.attempts])).toEqual([
      [id, 'queued', 0, null, attempts],
    ]);
  };

  it('restart recovery: counted, announced once', async () => {
    await store.insert(sampleJob());
    const claimed = (await store.claim(Date.now()))!;
    const { lifecycle, published } = harness(store);
    const ctx = {
      lifecycle,
      pool: idlePool(),
      shutdown: new ShutdownService(),
      takesJobs: true,
    } as unknown as DispatchContext;
    const dispatcher = new EmbeddedDispatcher(store, ctx);
    await dispatcher.start();
    await dispatcher.stop();
    expectOneRequeue(published, claimed.id, 1);
    expect((await store.get(claimed.id))!.status).toBe('queued');
  });

  it('restart recovery of a job already retried: fails it INTERRUPTED instead', async () => {
    await store.insert(sampleJob({ attempts: 1 }));
    const claimed = (await store.claim(Date.now()))!;
    expect(claimed.attempts).toBe(2);
    const { lifecycle, published } = harness(store);
    const ctx = {
      lifecycle,
      pool: idlePool(),
      shutdown: new ShutdownService(),
      takesJobs: true,
    } as unknown as DispatchContext;
    const dispatcher = new EmbeddedDispatcher(store, ctx);
    await dispatcher.start();
    await dispatcher.stop();
    expect(published.map((j) => [j.status, j.errorCode])).toEqual([['failed', 'INTERRUPTED']]);
  });

  /** Claims a job and runs it through the JobRunner on a worker whose run ends with `outcome`. */
  async function runEnding(outcome: RunOutcome): Promise<{ claimed: Job; published: Job[] }> {
    await store.insert(sampleJob());
    const claimed = (await store.claim(Date.now()))!;
    const { lifecycle, published } = harness(store);
    const storage = {
      pathFor: () => '/nowhere',
      publish: async () => {
        throw new StorageFailed('the worker reported done but the MP4 is not in place');
      },
      remove: async () => {},
    };
    const runner = new JobRunner(
      store,
      { transport },
      lifecycle,
      storage as unknown as OutputStore,
      idlePool(),
      new ShutdownService(),
      NO_ESTIMATES,
      new JobEvents({ transport }),
    );
    const worker = { ready: null, runJob: () => Promise.resolve(outcome) } as unknown as WorkerSupervisor;
    await runner.run(worker, claimed);
    return { claimed, published };
  }

  it('worker crash: counted, announced once', async () => {
    const { claimed, published } = await runEnding({ kind: 'crashed', reason: 'exit 137' });
    // The run's start is announced too; the requeue is the one change to `queued`.
    expectOneRequeue(
      published.filter((j) => j.status === 'queued'),
      claimed.id,
      1,
    );
  });

  it('a run stopped by the job timeout: failed WORKER_TIMEOUT at once, never retried', async () => {
    const { published } = await runEnding({
      kind: 'timeout',
      reason: 'job ran longer than 1500s (T2V_JOB_TIMEOUT_S)',
    });
    expect(published.filter((j) => j.status !== 'in_progress').map((j) => [j.status, j.errorCode])).toEqual([
      ['failed', 'WORKER_TIMEOUT'],
    ]);
  });

  it('shutdown hand-back: not counted, announced once', async () => {
    await store.insert(sampleJob());
    const claimed = (await store.claim(Date.now()))!;
    const { lifecycle, published } = harness(store);
    await lifecycle.handBack(claimed, 'handed back at shutdown');
    expectOneRequeue(published, claimed.id, 0);
  });

  it('the one retry rule: again while attempts are left, then the failure code of the path', async () => {
    const { lifecycle, published } = harness(store);
    await store.insert(sampleJob());
    let job = (await lifecycle.claim())!;
    expect(published.map((j) => [j.status, j.attempts])).toEqual([['in_progress', 1]]);
    job = (await lifecycle.retry(job, { reason: 'worker crashed: exit 137', code: 'WORKER_CRASHED' }))!;
    expect([job.status, job.attempts]).toEqual(['queued', 1]);
    job = (await lifecycle.claim(job.id))!;
    expect(job.attempts).toBe(2);
    const failed = (await lifecycle.retry(job, {
      reason: 'the replica running it stopped',
      code: 'INTERRUPTED',
    }))!;
    expect(failed).toMatchObject({
      status: 'failed',
      errorCode: 'INTERRUPTED',
      errorMessage: 'the replica running it stopped (on each of 2 attempts)',
    });
    // A run handed back at shutdown did not count: the job still has its retry.
    await store.insert(sampleJob());
    let other = (await lifecycle.claim())!;
    other = (await lifecycle.handBack(other, 'scale-in'))!;
    other = (await lifecycle.claim(other.id))!;
    expect(other.attempts).toBe(1);
    expect((await lifecycle.retry(other, { reason: 'worker crashed', code: 'WORKER_CRASHED' }))!.status).toBe(
      'queued',
    );
  });

  describe('with the redis driver', () => {
    let redis: RedisProcess;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis.stop();
    });

    const quietBus = { publishCapacityChange() {} } as unknown as RedisEventBus;
    const reconcileWith = async (
      prefix: string,
      test: (
        rstore: RedisJobStore,
        registry: RedisGpuRegistry,
        dispatcher: RedisDispatcher,
        published: Job[],
      ) => Promise<void>,
    ) => {
      const rstore = new RedisJobStore(redis.url, prefix);
      await rstore.open();
      const registry = new RedisGpuRegistry(rstore.client, rstore.keyPrefix, quietBus);
      const { lifecycle, published } = harness(rstore);
      const ctx = {
        lifecycle,
        pool: idlePool(),
        shutdown: new ShutdownService(),
        takesJobs: true,
      } as unknown as DispatchContext;
      const dispatcher = new RedisDispatcher({ redisLockS: 1, devices: ['cpu'] }, rstore, registry, ctx);
      try {
        await test(rstore, registry, dispatcher, published);
      } finally {
        await dispatcher.stop();
        await rstore.close();
      }
    };
    const reconcile = (d: RedisDispatcher) => (d as unknown as { reconcile(): Promise<void> }).reconcile();

    it('a run lost with its replica, found by reconciliation: counted, announced once, back in line', async () => {
      await reconcileWith('requeue', async (rstore, _registry, dispatcher, published) => {
        await rstore.insert(sampleJob());
        // Claimed by a replica that died before BullMQ ever saw the job: no queue entry at all.
        const claimed = (await rstore.claim(Date.now() - 60_000))!;
        await dispatcher.start();
        await reconcile(dispatcher);
        expectOneRequeue(published, claimed.id, 1);
        // And it is on the shared queue again, for any replica to take.
        const queue = (dispatcher as unknown as { queue: { getJob(id: string): Promise<unknown> } }).queue;
        expect(await queue.getJob(claimed.id)).toBeTruthy();
      });
    });

    it('a run a live process still reports (its queue entry lost in a failover) is left to it; once its report expires, it is requeued', async () => {
      await reconcileWith('alive', async (rstore, registry, dispatcher, published) => {
        await rstore.insert(sampleJob());
        const claimed = (await rstore.claim(Date.now() - 60_000))!;
        const report = (seenAt: number) => ({
          process: 'gpu-pod-b:7',
          role: 'all' as const,
          draining: false,
          startedAt: seenAt - 60_000,
          seenAt,
          workers: [
            {
              id: 'cpu-0',
              device: 'cpu',
              state: 'BUSY' as const,
              permanent: false,
              reason: null,
              job: claimed.id,
            },
          ],
        });
        await registry.report(report(Date.now()), false);
        await dispatcher.start();
        await reconcile(dispatcher);
        expect(published).toEqual([]);
        expect((await rstore.get(claimed.id))!.status).toBe('in_progress');
        // The process stopped reporting (SIGKILL): its last report ages past the time to live.
        await registry.report(report(Date.now() - registry.ttlMs - 1), false);
        await reconcile(dispatcher);
        expectOneRequeue(published, claimed.id, 1);
      });
    });
  });
});

/**
 * A job that ends without an output (failed, cancelled) never runs again: its input image is
 * removed by the lifecycle itself, so every path that ends a job (the runner, a cancel, a
 * dispatcher's takeover or reconciliation, restart recovery) leaves no image behind.
 */
describe('input images of ended jobs', () => {
  let store: SqliteJobStore;
  beforeEach(async () => {
    store = new SqliteJobStore(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-inputs-')), 'j.sqlite'));
    await store.open();
  });
  afterEach(() => store.close());

  const withImage = () => {
    const job = sampleJob();
    return sampleJob({
      params: { ...job.params, image: { path: '', sha256: 'a'.repeat(64), width: 64, height: 64 } },
    });
  };

  it.each([
    [
      'failed',
      (l: JobLifecycle, j: Job) => l.fail(j, 'INTERRUPTED', 'the replica running it was lost'),
      false,
    ],
    ['cancelled', (l: JobLifecycle, j: Job) => l.cancel(j), false],
    [
      'completed',
      (l: JobLifecycle, j: Job) => l.complete(j, { inference_s: 1, encode_s: 0.1, acceleration: null }),
      true,
    ],
  ] as const)('%s: the input image is kept only when the job completed', async (_status, end, kept) => {
    const { lifecycle, storage } = harness(store);
    storage.ensureRoot();
    const job = await store.insert(withImage());
    await storage.writeInput(job.id, Buffer.from('png'));
    const claimed = (await store.claim(Date.now()))!;
    expect(await end(lifecycle, claimed)).not.toBeNull();
    expect((await storage.stat(job.id, 'input')) !== null).toBe(kept);
  });
});
