import { type RedisProcess, startRedis } from '@t2v/testing/redis';
import { sampleJob } from '../../jobs/job-store.contract';
import { JobEvents } from '../../jobs/job-events';
import type { Job } from '../../jobs/job.types';
import { RedisEventBus } from './redis-event-bus';
import { RedisJobStore } from './redis-job-store';

/** Two replicas' JobEvents joined by the bus: what one publishes, the other's subscribers see. */
describe('RedisEventBus', () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  function replica() {
    const store = new RedisJobStore(redis.url, 'bus');
    const bus = new RedisEventBus(redis.url, 'bus', store.client);
    const events = new JobEvents({ transport: bus });
    const cancels: string[] = [];
    bus.onCancel((id) => cancels.push(id));
    return { store, events, bus, cancels };
  }

  it('carries job changes and cancels to the other replica, once, and never back to the sender', async () => {
    const a = replica();
    const b = replica();
    await a.store.open();
    await b.store.open();
    a.bus.start();
    b.bus.start();
    try {
      // Subscriptions are asynchronous: wait until both are in place.
      await new Promise((r) => setTimeout(r, 200));
      const job = { ...sampleJob(), seq: 1 } as Job;
      const seenOnA: Job[] = [];
      const seenOnB: Job[] = [];
      a.events.subscribe(job.id, (j) => seenOnA.push(j));
      b.events.subscribe(job.id, (j) => seenOnB.push(j));

      a.events.publish({ ...job, status: 'in_progress', progress: 40 });
      a.events.publish({ ...job, status: 'completed', progress: 100 });
      a.bus.cancel(job.id);
      await new Promise((r) => setTimeout(r, 300));

      expect(seenOnA.map((j) => j.progress)).toEqual([40, 100]);
      expect(seenOnB.map((j) => [j.status, j.progress])).toEqual([
        ['in_progress', 40],
        ['completed', 100],
      ]);
      expect(b.cancels).toEqual([job.id]);
      expect(a.cancels).toEqual([]);
    } finally {
      for (const r of [a, b]) {
        await r.bus.stop();
        await r.store.close();
      }
    }
  });
});
