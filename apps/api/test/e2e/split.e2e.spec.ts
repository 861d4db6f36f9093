import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type RedisProcess, startRedis } from '@t2v/testing/redis';

import {
  type ApiProcess,
  FAKE_WORKERS,
  getJson,
  postJson,
  REPO,
  startApi,
  stopAll,
  waitFor,
} from '../support/api-process';
import { receiver } from '../support/webhook-receiver';

/**
 * The two roles as separate processes on one Redis, no Kubernetes: an API tier (`T2V_ROLE=api`,
 * no workers) and GPU processes (`T2V_ROLE=gpu`) that come and go, sharing one output directory.
 */
jest.setTimeout(120_000);

const SECRET = `whsec_${Buffer.from('t2v-webhook-test-secret-32-bytes').toString('base64')}`;
const tmpDir = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `t2v-${name}-`));

function tierEnv(
  redis: RedisProcess,
  storageDir: string,
  role: 'api' | 'gpu',
  extra: Record<string, string> = {},
) {
  return {
    T2V_ROLE: role,
    T2V_QUEUE: 'redis',
    REDIS_URL: redis.url,
    T2V_STORAGE_DIR: storageDir,
    T2V_REDIS_LOCK_S: '2',
    ...extra,
  };
}

/** Child processes of `pid` (from /proc), with their command lines. */
function children(pid: number): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid)
        out.push(fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim());
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every SSE event of a job until its stream ends: [event name, video object]. */
async function sseEvents(url: string): Promise<Array<[string, any]>> {
  const text = await (await fetch(url)).text();
  return [...text.matchAll(/^event: (.+)\ndata: (.+)$/gm)].map((m) => [m[1]!, JSON.parse(m[2]!)]);
}

describe('split roles: an API process and GPU processes on one Redis', () => {
  let redis: RedisProcess;
  let storageDir: string;
  let api: ApiProcess;
  const gpus: ApiProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    storageDir = tmpDir('split-videos');
    api = await startApi(
      tierEnv(redis, storageDir, 'api', { T2V_WEBHOOK_SECRET: SECRET, T2V_WEBHOOK_ALLOW_PRIVATE: 'true' }),
    );
  });
  afterAll(async () => {
    await stopAll(api, ...gpus);
    await redis.stop();
  });

  it('the API tier is ready with no GPU process, states that no worker published a card yet, and runs no engine', async () => {
    const ready = await getJson(`${api.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json.details.gpu).toEqual({
      status: 'up',
      workers: 0,
      idle: 0,
      busy: 0,
      starting: 0,
      failed: 0,
    });
    expect(ready.json.details.workers).toBeUndefined();
    const model = (await getJson(`${api.url}/v1/models`)).json.data[0];
    expect(model).toMatchObject({
      id: 't2v-synthetic',
      card: { source: 'configured', published_at: null, published_by: null },
    });
    // The card came from the engine's --card, which exited: the API process holds no child.
    expect(children(api.child.pid!)).toEqual([]);
    expect(await (await fetch(`${api.url}/metrics`)).text()).not.toMatch(/t2v_worker_state\{/);
  });

  it('a job created with zero GPU processes waits for GPU capacity, and completes when a GPU process starts', async () => {
    const hook = await receiver();
    try {
      const created = await postJson(`${api.url}/v1/videos`, {
        prompt: 'a cold start',
        size: '320x192',
        seconds: 1,
        num_inference_steps: 4,
        webhook_url: hook.url,
      });
      expect(created.status).toBe(200);
      expect(created.json).toMatchObject({
        status: 'queued',
        queue_position: 1,
        queue_reason: 'gpu_capacity',
      });
      const id = created.json.id as string;
      const events = sseEvents(`${api.url}/v1/videos/${id}/events`);
      // Still waiting, and saying why, a while later: nothing can run it yet.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await getJson(`${api.url}/v1/videos/${id}`)).json).toMatchObject({
        status: 'queued',
        queue_reason: 'gpu_capacity',
      });

      const gpu = await startApi(tierEnv(redis, storageDir, 'gpu', { T2V_SYNTHETIC_STEP_MS: '20' }));
      gpus.push(gpu);
      const seen = await events;
      expect(seen[0]).toEqual(['video.queued', expect.objectContaining({ queue_reason: 'gpu_capacity' })]);
      expect(seen.at(-1)).toEqual(['video.completed', expect.objectContaining({ id, queue_reason: null })]);
      expect(
        fs
          .readdirSync(storageDir)
          .filter((f) => f.startsWith(id))
          .sort(),
      ).toEqual([`${id}.jpg`, `${id}.mp4`]);
      const mp4 = await fetch(`${api.url}/v1/videos/${id}/content`);
      expect(mp4.status).toBe(200);
      expect((await mp4.arrayBuffer()).byteLength).toBeGreaterThan(1000);
      // The API tier delivers the webhook (the GPU tier delivers none).
      await waitFor(() => hook.received.length === 1, 10_000, 'the webhook');
      expect(JSON.parse(hook.received[0]!.body)).toMatchObject({ type: 'video.completed', data: { id } });

      // The GPU process published its card: the API tier serves it now.
      const model = (await getJson(`${api.url}/v1/models`)).json.data[0];
      expect(model.card).toMatchObject({ source: 'worker', published_by: expect.stringMatching(/\/cpu-0$/) });
      // The GPU tier serves health, readiness and metrics only; its first worker's cold start is measured.
      expect((await getJson(`${gpu.url}/readyz`)).status).toBe(200);
      expect((await getJson(`${gpu.url}/v1/models`)).status).toBe(404);
      expect((await postJson(`${gpu.url}/v1/videos`, { prompt: 'p' })).status).toBe(404);
      expect((await fetch(`${gpu.url}/docs`)).status).toBe(404);
      const metrics = await (await fetch(`${gpu.url}/metrics`)).text();
      expect(metrics).toMatch(/^t2v_gpu_ready_seconds_count 1$/m);
      // ... and the API tier knows the GPU worker is there, idle.
      await waitFor(
        async () => (await getJson(`${api.url}/readyz`)).json.details.gpu.idle === 1,
        10_000,
        'the API tier to see the idle GPU worker',
      );
      expect(children(api.child.pid!)).toEqual([]);
    } finally {
      await hook.close();
    }
  });

  it('SIGTERM of a GPU process mid-job: handed back, completed on another, announced once', async () => {
    const hook = await receiver();
    try {
      // One GPU process (from the test above) runs the job; a second starts while it does.
      const [first] = gpus;
      const slow = await startApi(
        tierEnv(redis, storageDir, 'gpu', { T2V_SYNTHETIC_STEP_MS: '100', T2V_SHUTDOWN_GRACE_S: '0.3' }),
      );
      // The slow process is the only one that may take the job: stop the fast one first.
      await first!.stop();
      gpus.splice(0, gpus.length, slow);
      const created = await postJson(`${api.url}/v1/videos`, {
        prompt: 'scaled in mid-job',
        size: '320x192',
        seconds: 1,
        // 10 s on the first GPU process: it is still running when that process is stopped.
        num_inference_steps: 100,
        webhook_url: hook.url,
      });
      const id = created.json.id as string;
      const events = sseEvents(`${api.url}/v1/videos/${id}/events`);
      await waitFor(
        async () => (await getJson(`${api.url}/v1/videos/${id}`)).json.progress >= 5,
        20_000,
        'the job to run on the first GPU process',
      );
      const next = await startApi(tierEnv(redis, storageDir, 'gpu', { T2V_SYNTHETIC_STEP_MS: '10' }));
      gpus.push(next);
      expect(await slow.stop()).toBe(0);
      const seen = await events;
      // Each change of status once (a queued job is also re-sent when its position or reason moves).
      const statuses = seen
        .map(([name]) => name)
        .filter((n, i, all) => n !== 'video.progress' && n !== all[i - 1]);
      // (The stream may open after the first claim: it starts with the state the job is in.)
      expect(statuses.slice(-4)).toEqual([
        'video.in_progress',
        'video.queued',
        'video.in_progress',
        'video.completed',
      ]);
      expect(seen.filter(([name]) => name === 'video.completed')).toHaveLength(1);
      const done = (await getJson(`${api.url}/v1/videos/${id}`)).json;
      expect(done.status).toBe('completed');
      await new Promise((r) => setTimeout(r, 2000));
      expect(hook.received).toHaveLength(1);
      expect(JSON.parse(hook.received[0]!.body)).toMatchObject({ type: 'video.completed', data: { id } });
      expect(
        fs
          .readdirSync(storageDir)
          .filter((f) => f.startsWith(id))
          .sort(),
      ).toEqual([`${id}.jpg`, `${id}.mp4`]);
      // The hand-back did not count as an attempt.
      expect(slow.logs.join('\n')).toMatch(
        new RegExp(`requeued ${id} \\(handed back at shutdown; attempt 1 not counted\\)`),
      );
    } finally {
      await hook.close();
    }
  });

  it('refuses creates with 503 naming the reason while every GPU worker has failed for good; queues again once none is left', async () => {
    await stopAll(...gpus.splice(0));
    const broken = await startApi(
      tierEnv(redis, storageDir, 'gpu', {
        T2V_WORKER_COMMAND: JSON.stringify([process.execPath, path.join(FAKE_WORKERS, 'crash-in-setup.js')]),
        FAKE_EXIT_CODE: '78',
      }),
      { waitReady: false },
    );
    try {
      await waitFor(
        async () => (await getJson(`${api.url}/readyz`)).json.details.gpu.failed === 1,
        15_000,
        'the API tier to see the failed worker',
      );
      const refused = await postJson(`${api.url}/v1/videos`, { prompt: 'nothing can run this' });
      expect(refused.status).toBe(503);
      expect(refused.json.error).toMatchObject({ type: 'service_unavailable_error', code: 'workers_failed' });
      expect(refused.json.error.message).toMatch(
        /every GPU worker \(1\) failed permanently.*MODEL_LOAD_FAILED/,
      );
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await broken.stop();
    }
    // The failed GPU process is gone: an empty tier scales up, so jobs are accepted again.
    await waitFor(
      async () =>
        (await postJson(`${api.url}/v1/videos`, { prompt: 'after the fix', seconds: 1 })).status === 200,
      20_000,
      'creates to be accepted again',
    );
  });
});

/**
 * A model card that differs from anything the API was configured with (a custom profile on the GPU
 * worker): served exactly as the worker describes it, by a process with both roles and by the API
 * tier of a split deployment, and requests are checked against it.
 */
describe('the worker’s model card, on both roles (wan-tiny, a custom profile)', () => {
  let profile: string;
  let expectedCard: Record<string, unknown>;
  const PYTHON = path.join(REPO, 'apps/worker/.venv/bin/python');

  beforeAll(() => {
    profile = path.join(tmpDir('profile'), 'custom.json');
    fs.writeFileSync(
      profile,
      JSON.stringify({
        id: 'custom-tiny',
        description: 'wan-tiny with a narrow custom profile',
        num_inference_steps: { min: 1, max: 3, default: 2 },
        guidance_scale: { min: 0, max: 2, default: 1.5 },
        flow_shift: 4,
      }),
    );
    expectedCard = JSON.parse(
      execFileSync(PYTHON, ['-m', 't2v_worker', '--card'], {
        cwd: path.join(REPO, 'apps/worker'),
        env: {
          PATH: process.env['PATH'],
          PYTHONPATH: 'src',
          T2V_ENGINE: 'wan-tiny',
          T2V_MODEL_PROFILE: profile,
        },
        encoding: 'utf8',
      }),
    );
  });

  async function servedExactly(url: string): Promise<void> {
    const model = (await getJson(`${url}/v1/models`)).json.data[0];
    const c = expectedCard as any;
    expect(model).toMatchObject({
      id: 'custom-tiny',
      engine: 'wan-tiny',
      description: 'wan-tiny with a narrow custom profile',
      profile,
      presets: {
        sizes: c.size.presets,
        default_size: c.size.default,
        max_frames: c.frames.max,
        num_inference_steps: { min: 1, max: 3, default: 2 },
        guidance_scale: { min: 0, max: 2, default: 1.5 },
        flow_shift: 4,
      },
      card: { source: 'worker' },
    });
    // Checked against the card: 10 steps is inside wan-tiny's own range, not this profile's.
    const refused = await postJson(`${url}/v1/videos`, { prompt: 'p', num_inference_steps: 10 });
    expect(refused.status).toBe(400);
    expect(refused.json.error.param).toBe('num_inference_steps');
    const ok = await postJson(`${url}/v1/videos`, { prompt: 'a cat', seconds: 1 }, { Prefer: 'wait=60' });
    expect(ok.json).toMatchObject({
      status: 'completed',
      model: 'custom-tiny',
      num_inference_steps: 2,
      guidance_scale: 1.5,
      flow_shift: 4,
      size: c.size.default,
    });
  }

  it('one process with both roles', async () => {
    const all = await startApi({ T2V_ENGINE: 'wan-tiny', T2V_MODEL_PROFILE: profile }, { timeoutMs: 90_000 });
    try {
      await servedExactly(all.url);
    } finally {
      await all.stop();
    }
  });

  it('the API tier of a split deployment (configured without the profile)', async () => {
    const redis = await startRedis();
    const storageDir = tmpDir('split-card');
    let api: ApiProcess | null = null;
    let gpu: ApiProcess | null = null;
    try {
      api = await startApi(tierEnv(redis, storageDir, 'api', { T2V_ENGINE: 'wan-tiny' }));
      expect((await getJson(`${api.url}/v1/models`)).json.data[0]).toMatchObject({
        id: 'wan-tiny-random',
        card: { source: 'configured' },
      });
      gpu = await startApi(
        tierEnv(redis, storageDir, 'gpu', { T2V_ENGINE: 'wan-tiny', T2V_MODEL_PROFILE: profile }),
        { timeoutMs: 90_000 },
      );
      await waitFor(
        async () => (await getJson(`${api!.url}/v1/models`)).json.data[0].id === 'custom-tiny',
        10_000,
        'the API tier to serve the published card',
      );
      await servedExactly(api.url);
    } finally {
      await stopAll(api, gpu);
      await redis.stop();
    }
  });
});
