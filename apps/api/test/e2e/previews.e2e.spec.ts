import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type RedisProcess, startRedis } from '@t2v/testing/redis';

import { type ApiProcess, getJson, postJson, startApi, stopAll } from '../support/api-process';

/**
 * Live previews end to end on the synthetic engine (real JPEGs from ffmpeg): announced on SSE,
 * served while the job runs, gone when it ends, off on request; in one process and across the
 * split roles (a GPU process' previews reach the API tier over Redis).
 */
jest.setTimeout(120_000);

const PREVIEWS = {
  T2V_PREVIEW_EVERY_STEPS: '1',
  T2V_PREVIEW_MIN_INTERVAL_S: '0',
  T2V_SYNTHETIC_STEP_MS: '150',
};

interface Seen {
  events: Array<[string, any]>;
  /** Each preview event's picture, fetched from its URL as the event arrived. */
  pictures: Array<{ step: number; status: number; type: string | null; bytes: Buffer }>;
}

/** Follows a job's SSE stream to its end, fetching each preview's URL as it is announced. */
async function follow(base: string, id: string): Promise<Seen> {
  const seen: Seen = { events: [], pictures: [] };
  const res = await fetch(`${base}/v1/videos/${id}/events`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const fetches: Array<Promise<void>> = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const m = /^event: (.+)\ndata: (.+)$/m.exec(block);
      if (!m) continue;
      const data = JSON.parse(m[2]!);
      seen.events.push([m[1]!, data]);
      if (m[1] === 'video.preview') {
        fetches.push(
          fetch(`${base}${data.url}`).then(async (r) => {
            seen.pictures.push({
              step: data.step,
              status: r.status,
              type: r.headers.get('content-type'),
              bytes: Buffer.from(await r.arrayBuffer()),
            });
          }),
        );
      }
    }
  }
  await Promise.all(fetches);
  return seen;
}

const isJpeg = (b: Buffer) => b[0] === 0xff && b[1] === 0xd8 && b.at(-2) === 0xff && b.at(-1) === 0xd9;

function expectLivePreviews(seen: Seen, id: string, steps: number): void {
  const previews = seen.events.filter(([name]) => name === 'video.preview').map(([, data]) => data);
  // Every step but the last (the video itself comes next), in order; the stream opens as the job
  // is created, so at most the first may have come before it (then it is sent as the latest).
  const stepsSeen = previews.map((p) => p.step);
  expect(stepsSeen).toEqual([...stepsSeen].sort((a, b) => a - b));
  expect(stepsSeen.at(-1)).toBe(steps - 1);
  expect(stepsSeen.length).toBeGreaterThanOrEqual(steps - 2);
  const first = previews[0];
  expect(first).toEqual({
    object: 'video.preview',
    video_id: id,
    step: first.step,
    total: steps,
    url: `/v1/videos/${id}/content?variant=preview&step=${first.step}`,
    content_type: 'image/jpeg',
    width: 640,
    height: 384,
    created_at: expect.any(Number),
  });
  // Every preview came before the end, each fetched while the job ran.
  const names = seen.events.map(([name]) => name);
  expect(names.lastIndexOf('video.preview')).toBeLessThan(names.indexOf('video.completed'));
  const served = seen.pictures.filter((p) => p.status === 200);
  expect(served.length).toBeGreaterThanOrEqual(2);
  for (const p of served) {
    expect(p.type).toBe('image/jpeg');
    expect(isJpeg(p.bytes)).toBe(true);
  }
  // The picture changes as the steps go by.
  expect(new Set(served.map((p) => p.bytes.toString('base64'))).size).toBeGreaterThanOrEqual(2);
}

async function create(base: string, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await postJson(`${base}/v1/videos`, {
    prompt: 'a cat dancing in the rain',
    size: '640x384',
    seconds: 1,
    num_inference_steps: 6,
    ...extra,
  });
  expect(created.status).toBe(200);
  return created.json.id as string;
}

describe('live previews, one process', () => {
  let api: ApiProcess;
  beforeAll(async () => {
    api = await startApi(PREVIEWS);
  });
  afterAll(() => stopAll(api));

  it('announces each preview on SSE, serves it while the job runs, and drops it at the end', async () => {
    const id = await create(api.url);
    const seen = await follow(api.url, id);
    expectLivePreviews(seen, id, 6);
    expect(seen.events.at(-1)![0]).toBe('video.completed');
    const after = await getJson(`${api.url}/v1/videos/${id}/content?variant=preview`);
    expect(after.status).toBe(409);
    expect(after.json.error).toMatchObject({ code: 'no_preview', param: 'variant' });
    expect(after.json.error.message).toMatch(/completed/);
  });

  it('sends none when the request turns previews off, and says so', async () => {
    const id = await create(api.url, { preview: false });
    const stream = follow(api.url, id);
    await new Promise((r) => setTimeout(r, 400));
    const during = await getJson(`${api.url}/v1/videos/${id}/content?variant=preview`);
    expect(during.status).toBe(409);
    expect(during.json.error.message).toMatch(/turned previews off|queued/);
    const seen = await stream;
    expect(seen.events.map(([name]) => name)).not.toContain('video.preview');
    expect(seen.events.at(-1)![1]).toMatchObject({ status: 'completed', preview: false });
  });

  it('refuses an unknown variant naming the field', async () => {
    const id = await create(api.url);
    const res = await getJson(`${api.url}/v1/videos/${id}/content?variant=gif`);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ param: 'variant' });
    await follow(api.url, id);
  });
});

describe('live previews across the split roles (Redis)', () => {
  let redis: RedisProcess;
  let api: ApiProcess;
  let gpu: ApiProcess;
  beforeAll(async () => {
    redis = await startRedis();
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-previews-'));
    const tier = (role: string) => ({
      ...PREVIEWS,
      T2V_ROLE: role,
      T2V_QUEUE: 'redis',
      REDIS_URL: redis.url,
      T2V_STORAGE_DIR: storage,
    });
    api = await startApi(tier('api'));
    gpu = await startApi(tier('gpu'));
  });
  afterAll(async () => {
    await stopAll(api, gpu);
    await redis.stop();
  });

  it('the API tier announces and serves the previews of a job that runs in a GPU process', async () => {
    const id = await create(api.url);
    const seen = await follow(api.url, id);
    expectLivePreviews(seen, id, 6);
    expect((await getJson(`${api.url}/v1/videos/${id}/content?variant=preview`)).status).toBe(409);
  });
});
