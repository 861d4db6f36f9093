import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { Redis } from 'ioredis';
import sharp from 'sharp';
import { ulid } from 'ulid';

import { sampleJob } from '../../src/jobs/job-store.contract';
import { RedisJobStore } from '../../src/queue/redis/redis-job-store';

import {
  type ApiProcess,
  FAKE_WORKERS,
  getJson,
  postJson,
  startApi,
  stopAll,
  waitFor,
} from '../support/api-process';
import { ffprobe, firstFrame, pixelNear } from '../support/ffprobe';
import { type RedisProcess, startRedis } from '@t2v/testing/redis';

/**
 * The redis queue driver with real processes: a real redis-server on a free loopback port, two
 * built API processes (separate T2V_DATA_DIR, one shared T2V_STORAGE_DIR) on it.
 */
const SMALL = { prompt: 'a red fox in snow', size: '320x192', seconds: 1, num_inference_steps: 2 };

function replicaEnv(redis: RedisProcess, storageDir: string, extra: Record<string, string> = {}) {
  return {
    T2V_QUEUE: 'redis',
    REDIS_URL: redis.url,
    T2V_STORAGE_DIR: storageDir,
    T2V_REDIS_LOCK_S: '2',
    T2V_SYNTHETIC_STEP_MS: '5',
    ...extra,
  };
}

const tmpDir = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `t2v-${name}-`));

async function listAll(base: string): Promise<any[]> {
  const all: any[] = [];
  let after: string | null = null;
  for (;;) {
    const page: any = (
      await getJson(`${base}/v1/videos?limit=100&order=asc${after ? `&after=${after}` : ''}`)
    ).json;
    all.push(...page.data);
    if (!page.has_more) return all;
    after = page.last_id;
  }
}

describe('redis driver: two replicas on one Redis', () => {
  let redis: RedisProcess;
  let storageDir: string;
  let a: ApiProcess;
  let b: ApiProcess;

  beforeAll(async () => {
    redis = await startRedis();
    storageDir = tmpDir('shared-videos');
    [a, b] = await Promise.all([
      startApi(replicaEnv(redis, storageDir)),
      startApi(replicaEnv(redis, storageDir)),
    ]);
  });
  afterAll(async () => {
    await stopAll(a, b);
    await redis.stop();
  });

  it('says it is ready with the redis driver', async () => {
    const ready = await getJson(`${b.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json.details.queue).toMatchObject({ status: 'up', driver: 'redis' });
  });

  it('serves 20 jobs submitted to A from B: records, list, events and MP4s', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await postJson(`${a.url}/v1/videos`, { ...SMALL, prompt: `fox ${i}` });
      expect(r.status).toBe(200);
      ids.push(r.json.id);
    }
    for (const id of ids) {
      const got = await getJson(`${b.url}/v1/videos/${id}`);
      expect(got.status).toBe(200);
      expect(got.json.id).toBe(id);
    }
    await waitFor(
      async () => {
        const all = await Promise.all(
          ids.map(async (id) => (await getJson(`${b.url}/v1/videos/${id}`)).json.status),
        );
        return all.every((s) => s === 'completed');
      },
      60_000,
      'all 20 jobs to complete',
    );
    const listed = (await listAll(b.url)).map((v) => v.id);
    expect(listed).toEqual(expect.arrayContaining(ids));
    for (const id of ids) {
      const res = await fetch(`${b.url}/v1/videos/${id}/content`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('video/mp4');
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
    const file = path.join(tmpDir('dl'), 'v.mp4');
    fs.writeFileSync(
      file,
      Buffer.from(await (await fetch(`${b.url}/v1/videos/${ids[0]}/content`)).arrayBuffer()),
    );
    expect(ffprobe(file)).toMatchObject({ codec: 'h264', width: 320, height: 192 });
  }, 90_000);

  it('streams the progress of a job running anywhere to an SSE client on B', async () => {
    const created = await postJson(`${a.url}/v1/videos`, {
      ...SMALL,
      prompt: 'watched from B',
      num_inference_steps: 30,
    });
    const text = await (await fetch(`${b.url}/v1/videos/${created.json.id}/events`)).text();
    const events = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    expect(events[events.length - 1]).toBe('video.completed');
    expect(events.filter((e) => e === 'video.progress').length).toBeGreaterThan(3);
  }, 30_000);

  it('makes one job of 50 concurrent creates with one Idempotency-Key on both replicas', async () => {
    const key = `idem-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        postJson(
          `${(i % 2 ? a : b).url}/v1/videos`,
          { ...SMALL, prompt: 'once only' },
          { 'Idempotency-Key': key },
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(new Set(results.map((r) => r.json.id)).size).toBe(1);
    const all = await listAll(a.url);
    expect(all.filter((v) => v.prompt === 'once only')).toHaveLength(1);
  }, 30_000);

  it('attaches identical seeded requests on both replicas to one job in flight', async () => {
    const body = { ...SMALL, prompt: 'same seed everywhere', seed: 4242, num_inference_steps: 20 };
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => postJson(`${(i % 2 ? a : b).url}/v1/videos`, body)),
    );
    expect(new Set(results.map((r) => r.json.id)).size).toBe(1);
  }, 30_000);

  it('reports the same queue depth whichever replica is scraped', async () => {
    // Enough slow jobs that some wait in the queue.
    for (let i = 0; i < 6; i++)
      await postJson(`${a.url}/v1/videos`, { ...SMALL, prompt: `depth ${i}`, num_inference_steps: 40 });
    const depth = async (api: ApiProcess) =>
      Number(/^t2v_queue_depth (\d+)/m.exec(await (await fetch(`${api.url}/metrics`)).text())?.[1]);
    const [da, db] = await Promise.all([depth(a), depth(b)]);
    expect(da).toBeGreaterThan(0);
    expect(db).toBe(da);
  }, 30_000);
});

describe('redis driver: a replica dies mid-job', () => {
  it('lets the survivor complete the job, with exactly one MP4', async () => {
    const redis = await startRedis();
    const storageDir = tmpDir('shared-videos');
    let a: ApiProcess | null = null;
    let b: ApiProcess | null = null;
    try {
      // A alone first, so that A is the replica that runs the job.
      a = await startApi(replicaEnv(redis, storageDir, { T2V_SYNTHETIC_STEP_MS: '50' }));
      const created = await postJson(`${a.url}/v1/videos`, {
        ...SMALL,
        prompt: 'survives its replica',
        num_inference_steps: 40,
      });
      const id = created.json.id as string;
      await waitFor(
        async () => (await getJson(`${a!.url}/v1/videos/${id}`)).json.progress > 10,
        20_000,
        'the job to run on A',
      );
      b = await startApi(replicaEnv(redis, storageDir, { T2V_SYNTHETIC_STEP_MS: '50' }));

      const killedAt = Date.now();
      await a.kill();
      let resumedAt = 0;
      let video: any;
      await waitFor(
        async () => {
          video = (await getJson(`${b!.url}/v1/videos/${id}`)).json;
          if (!resumedAt && video.status === 'in_progress' && video.progress > 0 && video.progress < 50)
            resumedAt = Date.now();
          return video.status === 'completed' || video.status === 'failed';
        },
        60_000,
        'the survivor to finish the job',
      );
      const takeoverMs = Date.now() - killedAt;
      process.stdout.write(
        `takeover after SIGKILL: job completed ${takeoverMs} ms after the kill` +
          `${resumedAt ? ` (running again on the survivor after ${resumedAt - killedAt} ms)` : ''}` +
          ` with T2V_REDIS_LOCK_S=2, a 40-step job at 50 ms/step\n`,
      );
      expect(video.status).toBe('completed');
      // Let the dead replica's orphaned worker (if any) finish or exit, then count the files.
      await new Promise((r) => setTimeout(r, 1500));
      const files = fs.readdirSync(storageDir).filter((f) => f.includes(id));
      expect(files.sort()).toEqual([`${id}.jpg`, `${id}.mp4`]);
      expect(ffprobe(path.join(storageDir, `${id}.mp4`))).toMatchObject({ codec: 'h264' });
      expect(takeoverMs).toBeLessThan(30_000);
    } finally {
      await stopAll(a, b);
      await redis.stop();
    }
  }, 120_000);
});

describe('redis driver: an image job created on one replica', () => {
  it('runs on another replica with its image from the shared volume', async () => {
    const redis = await startRedis();
    const storageDir = tmpDir('shared-videos');
    let a: ApiProcess | null = null;
    let b: ApiProcess | null = null;
    try {
      // A's worker never becomes ready, so A only accepts: B must run the job.
      a = await startApi(
        replicaEnv(redis, storageDir, {
          T2V_WORKER_COMMAND: JSON.stringify([process.execPath, path.join(FAKE_WORKERS, 'silent-setup.js')]),
        }),
        { waitReady: false },
      );
      // Left half red, right half blue.
      const raw = Buffer.alloc(320 * 192 * 3);
      for (let i = 0; i < 320 * 192; i++) raw.set(i % 320 < 160 ? [230, 20, 20] : [20, 20, 230], i * 3);
      const png = await sharp(raw, { raw: { width: 320, height: 192, channels: 3 } })
        .png()
        .toBuffer();
      const created = await postJson(`${a.url}/v1/videos`, {
        ...SMALL,
        prompt: 'made on A, run on B',
        input_reference: `data:image/png;base64,${png.toString('base64')}`,
      });
      expect(created.status).toBe(200);
      const id = created.json.id as string;
      expect(fs.existsSync(path.join(storageDir, `${id}.input.png`))).toBe(true);

      b = await startApi(replicaEnv(redis, storageDir));
      let video: any;
      await waitFor(
        async () => {
          video = (await getJson(`${a!.url}/v1/videos/${id}`)).json;
          return video.status === 'completed' || video.status === 'failed';
        },
        30_000,
        'B to run the job',
      );
      expect(video).toMatchObject({ status: 'completed', input_reference: created.json.input_reference });
      const first = firstFrame(path.join(storageDir, `${id}.mp4`));
      expect(pixelNear(first, 320, 40, 96, [230, 20, 20])).toBe(true);
      expect(pixelNear(first, 320, 280, 96, [20, 20, 230])).toBe(true);

      // Deleted through A: the record and every file, the input image included, on the shared volume.
      expect((await fetch(`${a.url}/v1/videos/${id}`, { method: 'DELETE' })).status).toBe(200);
      expect(fs.readdirSync(storageDir).filter((f) => f.includes(id))).toEqual([]);
    } finally {
      await stopAll(a, b);
      await redis.stop();
    }
  }, 60_000);
});

describe('redis driver: shutdown and cancel across replicas', () => {
  it('hands the running job back on SIGTERM without counting the attempt; B completes it', async () => {
    const redis = await startRedis();
    const storageDir = tmpDir('shared-videos');
    let a: ApiProcess | null = null;
    let b: ApiProcess | null = null;
    try {
      a = await startApi(
        replicaEnv(redis, storageDir, { T2V_SYNTHETIC_STEP_MS: '50', T2V_SHUTDOWN_GRACE_S: '0.5' }),
      );
      const created = await postJson(`${a.url}/v1/videos`, {
        ...SMALL,
        prompt: 'handed back',
        num_inference_steps: 40,
      });
      const id = created.json.id as string;
      await waitFor(
        async () => (await getJson(`${a!.url}/v1/videos/${id}`)).json.progress > 10,
        20_000,
        'the job to run on A',
      );
      b = await startApi(replicaEnv(redis, storageDir, { T2V_SYNTHETIC_STEP_MS: '5' }));
      const stoppedAt = Date.now();
      expect(await a.stop()).toBe(0);
      let video: any;
      await waitFor(
        async () => {
          video = (await getJson(`${b!.url}/v1/videos/${id}`)).json;
          return video.status === 'completed';
        },
        20_000,
        'B to complete the handed-back job',
      );
      // No lock to wait for: handed back at once, well under the 2 s lock.
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      const admin = new Redis(redis.url);
      try {
        expect(JSON.parse((await admin.hget(`{t2v}:job:${id}`, 'attempts'))!)).toBe(1);
      } finally {
        admin.disconnect();
      }
      expect(
        fs
          .readdirSync(storageDir)
          .filter((f) => f.includes(id))
          .sort(),
      ).toEqual([`${id}.jpg`, `${id}.mp4`]);
    } finally {
      await stopAll(a, b);
      await redis.stop();
    }
  }, 60_000);

  it('cancels on B a job running on A: the worker stops, no output stays', async () => {
    const redis = await startRedis();
    const storageDir = tmpDir('shared-videos');
    let a: ApiProcess | null = null;
    let b: ApiProcess | null = null;
    try {
      a = await startApi(replicaEnv(redis, storageDir, { T2V_SYNTHETIC_STEP_MS: '50' }));
      const created = await postJson(`${a.url}/v1/videos`, {
        ...SMALL,
        prompt: 'cancelled from afar',
        num_inference_steps: 100,
      });
      expect(created.status).toBe(200);
      const id = created.json.id as string;
      await waitFor(
        async () => (await getJson(`${a!.url}/v1/videos/${id}`)).json.progress > 2,
        20_000,
        'the job to run on A',
      );
      b = await startApi(replicaEnv(redis, storageDir));
      const cancelled = await postJson(`${b.url}/v1/videos/${id}/cancel`, {});
      expect(cancelled.json.status).toBe('cancelled');
      // A's worker stops within a step (the job had ~4 s left), not at the end of the job.
      const cancelledAt = Date.now();
      await waitFor(
        async () => (await getJson(`${a!.url}/readyz`)).json.details.workers.workers[0].state === 'READY',
        3000,
        "A's worker to stop the cancelled job",
      );
      expect(Date.now() - cancelledAt).toBeLessThan(3000);
      await new Promise((r) => setTimeout(r, 300));
      expect((await getJson(`${a.url}/v1/videos/${id}`)).json.status).toBe('cancelled');
      expect(fs.readdirSync(storageDir).filter((f) => f.includes(id))).toEqual([]);
    } finally {
      await stopAll(a, b);
      await redis.stop();
    }
  }, 60_000);
});

describe('redis driver: webhooks', () => {
  it('sends each terminal event once, from the replica that made the transition', async () => {
    const redis = await startRedis();
    const storageDir = tmpDir('shared-videos');
    const received: string[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        received.push(`${event.type}:${event.data.id}`);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const env = {
      T2V_WEBHOOK_SECRET: `whsec_${Buffer.from('t2v-webhook-test-secret-32-bytes').toString('base64')}`,
      T2V_WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    let a: ApiProcess | null = null;
    let b: ApiProcess | null = null;
    try {
      [a, b] = await Promise.all([
        startApi(replicaEnv(redis, storageDir, env)),
        startApi(replicaEnv(redis, storageDir, env)),
      ]);
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await postJson(`${(i % 2 ? a : b).url}/v1/videos`, {
          ...SMALL,
          prompt: `hooked ${i}`,
          webhook_url: hook,
        });
        ids.push(r.json.id);
      }
      await waitFor(() => received.length >= 10, 30_000, 'ten webhook deliveries');
      await new Promise((r) => setTimeout(r, 1000)); // a duplicate would arrive by now
      expect(received.sort()).toEqual(ids.map((id) => `video.completed:${id}`).sort());
    } finally {
      await stopAll(a, b);
      await new Promise((r) => server.close(r));
      await redis.stop();
    }
  }, 60_000);
});

describe('redis driver: repair', () => {
  it('re-enqueues a queued record whose queue entry was lost (crash between insert and enqueue)', async () => {
    const redis = await startRedis();
    let api: ApiProcess | null = null;
    const store = new RedisJobStore(redis.url, 't2v');
    try {
      api = await startApi(replicaEnv(redis, tmpDir('videos')));
      await store.open();
      // A record as a replica writes it just before dying: in Redis, never put on the BullMQ queue.
      const job = await store.insert(sampleJob({ id: `video_${ulid()}`, createdAt: Date.now() - 60_000 }));
      let video: any;
      await waitFor(
        async () => {
          video = (await getJson(`${api!.url}/v1/videos/${job.id}`)).json;
          return video.status === 'completed';
        },
        20_000,
        'the reconcile pass to put the job back on the queue',
      );
      expect((await store.get(job.id))!.attempts).toBe(1);
    } finally {
      await store.close();
      await stopAll(api);
      await redis.stop();
    }
  }, 40_000);
});

describe('redis driver: Redis restarts with AOF', () => {
  it('completes all 100 queued jobs after the restart', async () => {
    let redis = await startRedis({ appendfsync: 'always' });
    const { port, dir } = redis;
    const storageDir = tmpDir('shared-videos');
    let api: ApiProcess | null = null;
    try {
      api = await startApi(
        replicaEnv(redis, storageDir, {
          T2V_MAX_QUEUE: '200',
          T2V_SYNTHETIC_STEP_MS: '20',
          T2V_CPU_WORKERS: '2',
        }),
      );
      const ids: string[] = [];
      for (let i = 0; i < 100; i++) {
        const r = await postJson(`${api.url}/v1/videos`, { ...SMALL, prompt: `aof ${i}` });
        expect(r.status).toBe(200);
        ids.push(r.json.id);
      }
      await redis.stop(); // SIGTERM: Redis flushes the AOF and exits
      // While it is down, creates fail fast instead of hanging.
      const started = Date.now();
      const refused = await postJson(`${api.url}/v1/videos`, SMALL);
      expect(refused.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(1000);
      redis = await startRedis({ appendfsync: 'always', port, dir });
      let statuses: string[] = [];
      try {
        await waitFor(
          async () => {
            statuses = (await listAll(api!.url)).filter((v) => ids.includes(v.id)).map((v) => v.status);
            return statuses.length === 100 && statuses.every((s) => s === 'completed');
          },
          90_000,
          'all 100 jobs to complete after the Redis restart',
        );
      } catch (err) {
        const counts = statuses.reduce<Record<string, number>>(
          (c, s) => ({ ...c, [s]: (c[s] ?? 0) + 1 }),
          {},
        );
        throw new Error(
          `${(err as Error).message}: ${JSON.stringify(counts)}\n${api.logs
            .filter((l) => !/"debug"|"request"/.test(l))
            .slice(-15)
            .join('\n')}`,
        );
      }
      const files = fs.readdirSync(storageDir).filter((f) => f.endsWith('.mp4'));
      expect(files).toHaveLength(100);
    } finally {
      await stopAll(api);
      await redis.stop();
    }
  }, 180_000);
});

describe('redis driver: Redis unhealthy', () => {
  it('answers creates with 503 and Retry-After in under a second while Redis is down', async () => {
    const redis = await startRedis();
    let api: ApiProcess | null = null;
    try {
      api = await startApi(replicaEnv(redis, tmpDir('videos')));
      await redis.kill();
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const r = await postJson(`${api.url}/v1/videos`, SMALL);
        const ms = Date.now() - started;
        expect(r.status).toBe(503);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(r.json.error.type).toBe('service_unavailable_error');
        expect(ms).toBeLessThan(1000);
      }
      const ready = await getJson(`${api.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.json.details.queue.status).toBe('down');
      expect((await getJson(`${api.url}/healthz`)).status).toBe(200);
    } finally {
      await stopAll(api);
      await redis.stop();
    }
  }, 60_000);

  it('refuses readiness while maxmemory-policy is not noeviction, naming the policy', async () => {
    const redis = await startRedis();
    let api: ApiProcess | null = null;
    const admin = new Redis(redis.url);
    try {
      api = await startApi(replicaEnv(redis, tmpDir('videos')));
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const ready = await getJson(`${api.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.json.details.queue.reason).toMatch(/maxmemory-policy is allkeys-lru.*noeviction/);
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      expect((await getJson(`${api.url}/readyz`)).status).toBe(200);
    } finally {
      admin.disconnect();
      await stopAll(api);
      await redis.stop();
    }
  }, 60_000);
});
