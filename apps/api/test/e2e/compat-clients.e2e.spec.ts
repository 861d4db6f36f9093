import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import OpenAI from 'openai';

import { type ApiProcess, getJson, startApi, waitFor } from '../support/api-process';
import { ffprobe } from '../support/ffprobe';

/**
 * What clients written for other servers send, unchanged: the official `openai` client with the
 * OpenAI sizes (1280x720, 720x1280) and model name, and vLLM-Omni's documented quick-start and
 * /v1/videos/sync forms. Each completes with the values snapped to the model grid and reported;
 * under `Prefer: handling=strict` (or T2V_PARAM_HANDLING=strict) each is a 400 naming the field.
 */
const PROMPT = 'A cinematic tracking shot of a mountain lake at sunrise';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-compat-'));

function probe(bytes: Buffer) {
  const file = path.join(scratch, `${Math.random().toString(36).slice(2)}.mp4`);
  fs.writeFileSync(file, bytes);
  return ffprobe(file);
}

/** vLLM-Omni's quick start, field for field, as curl -F sends it (multipart/form-data). */
function quickStartForm(): FormData {
  const form = new FormData();
  form.append('prompt', PROMPT);
  form.append('width', '1280');
  form.append('height', '720');
  form.append('num_frames', '80');
  form.append('fps', '16');
  form.append('num_inference_steps', '40');
  return form;
}

/** vLLM-Omni's /v1/videos/sync example. */
function syncForm(): FormData {
  const form = new FormData();
  form.append('prompt', PROMPT);
  form.append('width', '854');
  form.append('height', '480');
  form.append('num_frames', '80');
  return form;
}

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('clients of other servers, unchanged (synthetic engine)', () => {
  let api: ApiProcess;
  let openai: OpenAI;

  beforeAll(async () => {
    api = await startApi({
      T2V_SYNTHETIC_STEP_MS: '1',
      T2V_MODEL_ALIASES: 'sora-2=t2v-synthetic,sora-2-pro',
    });
    openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });
  afterAll(async () => {
    expect(await api.stop()).toBe(0);
  });

  const waitDone = async (id: string) => {
    let video: OpenAI.Videos.Video | undefined;
    await waitFor(
      async () => {
        video = await openai.videos.retrieve(id);
        return ['completed', 'failed'].includes(video.status);
      },
      60_000,
      `video ${id}`,
    );
    return video as OpenAI.Videos.Video & Record<string, any>;
  };

  it('lists the aliases in /v1/models', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['t2v-synthetic', 'sora-2', 'sora-2-pro']);
    expect(models.data[1]).toMatchObject({ alias_for: 't2v-synthetic', aliases: ['sora-2', 'sora-2-pro'] });
    expect(await openai.models.retrieve('sora-2')).toMatchObject({
      id: 'sora-2',
      alias_for: 't2v-synthetic',
    });
  });

  it.each([
    ['1280x720', '1280x704', 1280, 704],
    ['720x1280', '704x1280', 704, 1280],
  ] as const)('openai.videos.create with size %s completes at %s', async (size, used, width, height) => {
    const { data: created, response } = await openai.videos
      .create({ model: 'sora-2', prompt: PROMPT, size, seconds: '4' })
      .withResponse();
    expect(response.headers.get('t2v-adjusted')).toBe(`size;requested="${size}";used="${used}"`);
    expect(created).toMatchObject({ model: 't2v-synthetic', size: used, seconds: '4' });
    expect((created as any).adjusted).toEqual({ size: { requested: size, used } });

    const done = await waitDone(created.id);
    expect(done).toMatchObject({ status: 'completed', size: used, seconds: '4', num_frames: 97 });
    expect(done.adjusted).toEqual({ size: { requested: size, used } });
    const mp4 = Buffer.from(await (await openai.videos.downloadContent(created.id)).arrayBuffer());
    expect(probe(mp4)).toMatchObject({ codec: 'h264', width, height, frames: 97 });
  });

  it('openai.videos.create under Prefer: handling=strict is a 400 naming size', async () => {
    const err = await openai.videos
      .create(
        { model: 'sora-2', prompt: PROMPT, size: '1280x720' },
        { headers: { Prefer: 'handling=strict' } },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.status).toBe(400);
    expect(e.param).toBe('size');
    expect(e.code).toBe('unsupported_size');
    expect(e.message).toMatch(/the nearest size is 1280x704/);
    expect(e.headers?.get('preference-applied')).toBe('handling=strict');
  });

  it("vLLM-Omni's quick start completes at 1280x704, 81 frames at 16 fps, and says so", async () => {
    const res = await fetch(`${api.url}/v1/videos`, { method: 'POST', body: quickStartForm() });
    expect(res.status).toBe(200);
    expect(res.headers.get('t2v-adjusted')).toBe(
      'height;requested=720;used=704, num_frames;requested=80;used=81',
    );
    const created = (await res.json()) as { id: string };
    const done = await waitDone(created.id);
    expect(done).toMatchObject({
      status: 'completed',
      size: '1280x704',
      num_frames: 81,
      fps: 16,
      seconds: '5',
      num_inference_steps: 40,
      adjusted: { height: { requested: 720, used: 704 }, num_frames: { requested: 80, used: 81 } },
    });
    const mp4 = Buffer.from(await (await fetch(`${api.url}/v1/videos/${created.id}/content`)).arrayBuffer());
    expect(probe(mp4)).toMatchObject({ width: 1280, height: 704, frames: 81 });
  });

  it("vLLM-Omni's /v1/videos/sync example answers the MP4 at 832x480, 81 frames", async () => {
    const res = await fetch(`${api.url}/v1/videos/sync`, { method: 'POST', body: syncForm() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('t2v-adjusted')).toBe(
      'width;requested=854;used=832, num_frames;requested=80;used=81',
    );
    expect(probe(Buffer.from(await res.arrayBuffer()))).toMatchObject({
      width: 832,
      height: 480,
      frames: 81,
    });
  });

  it.each([
    ['/v1/videos', 'height', quickStartForm],
    ['/v1/videos/sync', 'width', syncForm],
  ])('%s under Prefer: handling=strict is a 400 naming %s', async (route, param, form) => {
    const res = await fetch(`${api.url}${route}`, {
      method: 'POST',
      body: form(),
      headers: { Prefer: 'handling=strict' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('preference-applied')).toBe('handling=strict');
    expect(((await res.json()) as any).error).toMatchObject({ param, code: 'unsupported_size' });
  });

  it('refuses num_frames off 4k+1 under strict handling, naming it', async () => {
    const form = new FormData();
    form.append('prompt', PROMPT);
    form.append('num_frames', '80');
    const res = await fetch(`${api.url}/v1/videos`, {
      method: 'POST',
      body: form,
      headers: { Prefer: 'handling=strict' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ param: 'num_frames', code: 'invalid_value' });
  });

  it('combines handling and wait in one Prefer, and names both as applied', async () => {
    const res = await fetch(`${api.url}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', Prefer: 'wait=30, handling=strict' },
      body: JSON.stringify({ prompt: PROMPT, size: '832x480', num_frames: 17 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('handling=strict, wait=30');
    expect(res.headers.get('t2v-adjusted')).toBeNull();
    expect(await res.json()).toMatchObject({ status: 'completed', adjusted: {} });
  });

  it('applies the same rules to /generate query parameters', async () => {
    const q = 'prompt=a%20dog&width=854&height=480&num_frames=80&user=u-1';
    const res = await getJson(`${api.url}/generate?${q}`, { accept: 'application/json' });
    expect(res.status).toBe(200);
    expect(res.headers.get('t2v-adjusted')).toBe(
      'width;requested=854;used=832, num_frames;requested=80;used=81',
    );
    expect(res.json.video).toMatchObject({ size: '832x480', num_frames: 81, user: 'u-1' });
    const strict = await getJson(`${api.url}/generate?${q}`, { Prefer: 'handling=strict' });
    expect(strict.status).toBe(400);
    expect(strict.json.error.param).toBe('width');
  });

  it('stores and returns user', async () => {
    const created = await openai.videos.create({ prompt: PROMPT, user: 'end-user-7' } as any);
    expect(created).toMatchObject({ user: 'end-user-7' });
    expect(await openai.videos.retrieve(created.id)).toMatchObject({ user: 'end-user-7' });
  });
});

describe('T2V_PARAM_HANDLING=strict, with per-user rate limits', () => {
  let api: ApiProcess;
  beforeAll(async () => {
    api = await startApi({ T2V_PARAM_HANDLING: 'strict', T2V_RATE_LIMIT_PER_MIN: '3' });
  });
  afterAll(async () => {
    expect(await api.stop()).toBe(0);
  });

  it('refuses what it would snap unless the request prefers lenient handling', async () => {
    const strict = await fetch(`${api.url}/v1/videos`, { method: 'POST', body: quickStartForm() });
    expect(strict.status).toBe(400);
    expect(strict.headers.get('preference-applied')).toBeNull();
    expect(((await strict.json()) as any).error.param).toBe('height');

    const lenient = await fetch(`${api.url}/v1/videos`, {
      method: 'POST',
      body: quickStartForm(),
      headers: { Prefer: 'handling=lenient' },
    });
    expect(lenient.status).toBe(200);
    expect(lenient.headers.get('preference-applied')).toBe('handling=lenient');
    expect(((await lenient.json()) as any).size).toBe('1280x704');
  });

  it('gives each user its own rate-limit window when no key identifies the caller', async () => {
    const send = (user: string) =>
      fetch(`${api.url}/v1/videos`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'p', user, seconds: 1 }),
      });
    const a = [];
    for (let i = 0; i < 4; i++) a.push((await send('alice')).status);
    expect(a).toEqual([200, 200, 200, 429]);
    expect((await send('bob')).status).toBe(200);
  });
});
