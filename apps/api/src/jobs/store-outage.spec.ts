import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { AppConfig } from '../config/app-config';
import { SqliteJobStore } from '../queue/embedded/sqlite-job-store';
import type { OutputStore } from '../storage/output-store';
import type { RunOutcome, WorkerSupervisor } from '../worker-pool/worker-supervisor';
import type { WorkerPoolService } from '../worker-pool/worker-pool.service';
import type { JobLifecycle } from './job-lifecycle';
import type { CapacityService } from './capacity.service';
import { JobEvents } from './job-events';
import { JobRunner } from './job-runner';
import { LOCAL_TRANSPORT, lifecycleHarness, NO_ESTIMATES, sampleJob } from './job-store.contract';
import { StoreUnavailable } from './job-store.errors';
import { JobsService } from './jobs.service';
import { ShutdownService } from './shutdown.service';

const transport = LOCAL_TRANSPORT;

/**
 * The embedded store, except that it is "down" (as Redis is while it restarts) for the calls
 * `down` picks: those reject with StoreUnavailable, as RedisJobStore's do.
 */
class FlakyStore extends SqliteJobStore {
  down: (method: string, args: unknown[]) => boolean = () => false;
  override async transition(...args: Parameters<SqliteJobStore['transition']>) {
    if (this.down('transition', args)) throw new StoreUnavailable('connection lost');
    return super.transition(...args);
  }
  override async get(id: string) {
    if (this.down('get', [id])) throw new StoreUnavailable('connection lost');
    return super.get(id);
  }
}

describe('a store outage in the middle of a job', () => {
  let store: FlakyStore;
  let events: JobEvents;
  let lifecycle: JobLifecycle;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  beforeEach(async () => {
    store = new FlakyStore(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-outage-')), 'jobs.sqlite'));
    await store.open();
    ({ lifecycle, events } = lifecycleHarness(store));
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });

  afterEach(async () => {
    process.off('unhandledRejection', onUnhandled);
    await store.close();
  });

  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('loses a progress update, not the process, and still records the outcome', async () => {
    const storage = { pathFor: () => '/nowhere', publish: async () => {}, remove: async () => {} };
    const runner = new JobRunner(
      store,
      { transport },
      lifecycle,
      storage as unknown as OutputStore,
      {} as WorkerPoolService,
      new ShutdownService(),
      NO_ESTIMATES,
      new JobEvents({ transport }),
    );
    await store.insert(sampleJob());
    const job = (await store.claim(Date.now()))!;
    // Progress updates fail; everything else works.
    store.down = (method, args) =>
      method === 'transition' && Object.keys(args[3] as object).join() === 'progress';
    const worker = {
      ready: { load_s: 0 },
      runJob: (_request: unknown, onProgress: (step: number, total: number) => void) => {
        onProgress(1, 2);
        return Promise.resolve<RunOutcome>({
          kind: 'done',
          event: { type: 'done', job_id: job.id, timings: { inference_s: 1, encode_s: 0.1 } } as never,
        });
      },
    } as unknown as WorkerSupervisor;
    await runner.run(worker, job);
    await settle();
    expect(unhandled).toEqual([]);
    expect((await store.get(job.id))!.status).toBe('completed');
  });

  it('ends a wait at its deadline when the re-read cannot reach the store', async () => {
    const job = await store.insert(sampleJob());
    const jobs = new JobsService(
      { maxQueue: 10, outputTtlHours: 1, engine: 'synthetic' } as AppConfig,
      store,
      { accepted: async () => undefined },
      lifecycle,
      {} as JobRunner,
      events,
      {} as OutputStore,
      new ShutdownService(),
      { refusal: async () => null } as unknown as CapacityService,
    );
    let reads = 0;
    // The first read answers; the re-read after subscribing does not.
    store.down = (method) => method === 'get' && ++reads > 1;
    const waited = await jobs.waitForTerminal(job.id, 100);
    await settle();
    expect(waited.status).toBe('queued');
    expect(unhandled).toEqual([]);
  });
});
