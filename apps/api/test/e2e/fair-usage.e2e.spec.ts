import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type RedisProcess, startRedis } from '@t2v/testing/redis';

import { type ApiProcess, getJson, postJson, startApi, stopAll, waitFor } from '../support/api-process';

/**
 * Fair turns and metered use through the real API, on both queue drivers: one worker, a heavy
 * caller and a light one, keys with names, a cap and the admin scope; then a restart, after which
 * the usage report is what it was and sums to the jobs run.
 */
const ALICE = 'alice-key-aaaaaaaaaaaa';
const BOB = 'bob-key-bbbbbbbbbbbbbb';
const CAPPED = 'capped-key-cccccccccccc';
const OPS = 'ops-key-dddddddddddddd';
const KEYS = [
  `${ALICE} name=alice`,
  `${BOB} name=bob`,
  `${CAPPED} name=capped max_queued=2`,
  `${OPS} name=ops scopes=admin`,
].join(',');
const JOB = { prompt: 'a lighthouse at dusk', size: '320x192', seconds: 1, num_inference_steps: 4 };
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function video(api: ApiProcess, id: string): Promise<any> {
  return (await getJson(`${api.url}/v1/videos/${id}`, auth(OPS))).json;
}

/** The data of the first event on a video's SSE stream. */
async function firstEvent(api: ApiProcess, id: string): Promise<any> {
  const res = await fetch(`${api.url}/v1/videos/${id}/events`, {
    headers: auth(OPS),
    signal: AbortSignal.timeout(5000),
  });
  const reader = res.body!.getReader();
  let text = '';
  while (!/\n\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  return JSON.parse(/^data: (.*)$/m.exec(text)![1]!);
}

async function usage(api: ApiProcess, query: string, key = OPS) {
  return getJson(`${api.url}/v1/usage?${query}`, auth(key));
}

const drivers: Array<{
  name: string;
  env: () => Promise<Record<string, string>>;
  stop?: () => Promise<void>;
}> = [];
let redis: RedisProcess | null = null;
drivers.push({ name: 'embedded', env: async () => ({}) });
drivers.push({
  name: 'redis',
  env: async () => {
    redis ??= await startRedis();
    return {
      T2V_QUEUE: 'redis',
      REDIS_URL: redis.url,
      T2V_REDIS_PREFIX: `fair-${Date.now()}`,
      T2V_STORAGE_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 't2v-fair-')),
    };
  },
});
afterAll(async () => {
  await redis?.stop();
});

describe.each(drivers)('fair turns and usage through the API ($name driver)', ({ env }) => {
  it('B starts next after A queued 12, caps answer 429 naming the cap, estimates appear once runs are learned (and survive a restart), usage survives a restart and sums to the jobs run', async () => {
    const driverEnv = await env();
    const settings = {
      ...driverEnv,
      T2V_API_KEYS: KEYS,
      T2V_SYNTHETIC_STEP_MS: '40',
      T2V_RATE_LIMIT_PER_MIN: '0',
    };
    let api: ApiProcess | null = await startApi(settings);
    try {
      const alice: string[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await postJson(`${api.url}/v1/videos`, { ...JOB, prompt: `alice ${i}` }, auth(ALICE));
        expect(r.status).toBe(200);
        // Nothing has run on this deployment yet: no estimate rather than a guess.
        if (i === 0) expect(r.json).not.toHaveProperty('estimated_completion_at');
        alice.push(r.json.id);
      }
      await waitFor(
        async () => (await video(api!, alice[0]!)).status !== 'queued',
        10_000,
        'alice 0 to start',
      );
      const b = await postJson(`${api.url}/v1/videos`, { ...JOB, prompt: 'bob' }, auth(BOB));
      expect(b.status).toBe(200);
      // Bob's one job goes before Alice's eleven waiting ones, and its position says so.
      expect(b.json.queue_position).toBe(1);
      expect((await video(api, alice[11]!)).queue_position).toBe(12);
      await waitFor(
        async () => (await video(api!, b.json.id)).status === 'completed',
        20_000,
        'bob to complete',
      );
      const aliceDone = (await Promise.all(alice.map((id) => video(api!, id)))).filter(
        (v) => v.status === 'completed',
      );
      // Only what was running (and at most one that finished while this was being read) beat him.
      expect(aliceDone.length).toBeLessThanOrEqual(2);

      // A key's cap on queued jobs: the third is refused, naming the cap; other callers go on.
      const capped = [];
      for (let i = 0; i < 2; i++) {
        const r = await postJson(`${api.url}/v1/videos`, JOB, auth(CAPPED));
        expect(r.status).toBe(200);
        capped.push(r.json);
      }
      // Runs of this shape have completed: queued jobs now carry estimates, in order, and SSE sends them.
      const last = capped[1];
      expect(last.estimated_start_at).toBeGreaterThanOrEqual(last.created_at);
      expect(last.estimated_completion_at).toBeGreaterThanOrEqual(last.estimated_start_at);
      expect(last.estimated_completion_at).toBeLessThan(last.created_at + 60);
      const first = await firstEvent(api, last.id);
      expect(first).toHaveProperty('estimated_completion_at');
      const refused = await postJson(`${api.url}/v1/videos`, JOB, auth(CAPPED));
      expect(refused.status).toBe(429);
      expect(refused.json.error).toMatchObject({ type: 'rate_limit_error', code: 'caller_queue_cap' });
      expect(refused.json.error.message).toMatch(/max_queued/);

      const all = [...alice, b.json.id];
      await waitFor(
        async () =>
          (await getJson(`${api!.url}/v1/videos?limit=100`, auth(OPS))).json.data.every(
            (v: any) => v.status === 'completed',
          ),
        60_000,
        'every job to complete',
      );

      // Only the admin scope reads usage.
      expect((await usage(api, '')).status).toBe(200);
      const forbidden = await usage(api, '', ALICE);
      expect(forbidden.status).toBe(403);
      expect(forbidden.json.error.code).toBe('insufficient_scope');
      const bad = await usage(api, 'group_by=caller,colour');
      expect(bad.status).toBe(400);
      expect(bad.json.error.param).toBe('group_by');

      const before = (await usage(api, 'group_by=caller,model,day')).json;
      await api.stop();
      api = await startApi(settings, { dataDir: api.dataDir });
      const after = (await usage(api, 'group_by=caller,model,day')).json;
      // What was learned is in the store: the first create after the restart has an estimate.
      const again = await postJson(`${api.url}/v1/videos`, { ...JOB, prompt: 'after restart' }, auth(BOB));
      expect(again.json.estimated_completion_at).toBeGreaterThanOrEqual(again.json.created_at);
      await waitFor(
        async () => (await video(api!, again.json.id)).status === 'completed',
        20_000,
        'the job after the restart',
      );
      expect(after.data).toEqual(before.data);
      expect(after.total).toEqual(before.total);

      // It sums to the jobs run: per caller, frames, seconds and GPU time of every job.
      const videos = (await getJson(`${api.url}/v1/videos?limit=100`, auth(OPS))).json.data;
      expect(videos).toHaveLength(all.length + 3);
      const byCaller = (await usage(api, 'group_by=caller')).json;
      const row = (caller: string) => byCaller.data.find((r: any) => r.caller === caller);
      expect(row('key:alice').jobs).toEqual({ completed: 12, failed: 0, cancelled: 0, total: 12 });
      expect(row('key:bob').jobs.completed).toBe(2);
      expect(row('key:capped').jobs.completed).toBe(2);
      expect(byCaller.total.jobs.total).toBe(videos.length);
      expect(byCaller.total.frames).toBe(videos.reduce((n: number, v: any) => n + v.num_frames, 0));
      // Each record keeps its seconds to the millisecond.
      const seconds = videos.reduce((n: number, v: any) => n + v.num_frames / v.fps, 0);
      expect(Math.abs(byCaller.total.output_seconds - seconds)).toBeLessThanOrEqual(0.0005 * videos.length);
      // GPU time is at least the inference and encode time the jobs report, and not far above it.
      const worked = videos.reduce((n: number, v: any) => n + v.timings.inference_s + v.timings.encode_s, 0);
      expect(byCaller.total.gpu_seconds).toBeGreaterThanOrEqual(worked * 0.95);
      expect(byCaller.total.gpu_seconds).toBeLessThan(worked + videos.length * 1.5);
      const summed = byCaller.data.reduce((n: number, r: any) => n + r.gpu_seconds, 0);
      expect(summed).toBeCloseTo(byCaller.total.gpu_seconds, 2);
    } finally {
      await stopAll(api);
    }
  }, 120_000);
});

describe.each(drivers)('a running cap through the API ($name driver)', ({ env }) => {
  it('runs one job of a max_running=1 key at a time on two workers, while another caller uses the other', async () => {
    const one = 'one-at-a-time-key-eeeeee';
    const api = await startApi({
      ...(await env()),
      T2V_API_KEYS: `${one} name=serial max_running=1,${OPS} name=ops scopes=admin`,
      T2V_CPU_WORKERS: '2',
      T2V_SYNTHETIC_STEP_MS: '40',
      T2V_RATE_LIMIT_PER_MIN: '0',
    });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await postJson(`${api.url}/v1/videos`, JOB, auth(one))).json.id);
      const other = (await postJson(`${api.url}/v1/videos`, JOB, auth(OPS))).json.id;
      let most = 0;
      let otherRanAlongside = false;
      await waitFor(
        async () => {
          const states = await Promise.all(ids.map(async (id) => (await video(api, id)).status));
          const running = states.filter((s) => s === 'in_progress').length;
          most = Math.max(most, running);
          if (running === 1 && (await video(api, other)).status !== 'queued') otherRanAlongside = true;
          return states.every((s) => s === 'completed');
        },
        60_000,
        'the capped key to finish',
      );
      expect(most).toBe(1);
      expect(otherRanAlongside).toBe(true);
    } finally {
      await stopAll(api);
    }
  }, 90_000);
});
