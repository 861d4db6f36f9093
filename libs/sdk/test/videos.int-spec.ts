/**
 * The SDK against the real API (synthetic engine) on a real loopback port; the MP4 is read back
 * with ffprobe. Needs `npx nx run api:build` (the `sdk:integration` target depends on it).
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  T2V,
  type Video,
  type VideoEventName,
} from '../src/index.js';
import { type LiveApi, startApi } from '@t2v/testing/live-api';
import { solidColorImage } from '@t2v/testing/media';

const FFPROBE = process.env['FFPROBE'] ?? '/usr/bin/ffprobe';

function probe(path: string) {
  const out = execFileSync(FFPROBE, [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_frames',
    '-show_entries',
    'stream=codec_name,width,height,nb_read_frames',
    '-of',
    'json',
    path,
  ]).toString();
  return (
    JSON.parse(out) as {
      streams: Array<{ codec_name: string; width: number; height: number; nb_read_frames: string }>;
    }
  ).streams[0]!;
}

let api: LiveApi;
let client: T2V;
const dir = mkdtempSync(join(tmpdir(), 't2v-sdk-out-'));

beforeAll(async () => {
  api = await startApi();
  client = new T2V({ baseURL: api.url, env: {} });
});

afterAll(async () => {
  await api?.stop();
});

describe('SDK against the live API', () => {
  it('lists the model with its presets', async () => {
    const list = await client.models.list();
    expect(list.object).toBe('list');
    const model = list.data[0]!;
    expect(model.engine).toBe('synthetic');
    expect(model.presets.sizes).toContain('256x256');
    expect((await client.models.retrieve(model.id)).id).toBe(model.id);
  });

  it('creates, waits with progress over SSE, downloads, and the MP4 reads back in ffprobe', async () => {
    const updates: Array<{ status: string; progress: number; event?: VideoEventName }> = [];
    const video = await client.videos.createAndWait(
      { prompt: 'a red fox running through snow', size: '256x256', seconds: 1, num_inference_steps: 10 },
      { onProgress: (v, event) => updates.push({ status: v.status, progress: v.progress, event }) },
    );
    expect(video.status).toBe('completed');
    expect(video.progress).toBe(100);
    expect(updates.at(-1)).toMatchObject({ status: 'completed', event: 'video.completed' });
    expect(updates.some((u) => u.event !== undefined)).toBe(true); // came over the events stream
    const progress = updates.map((u) => u.progress);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress); // never goes backwards

    const out = join(dir, 'fox.mp4');
    const result = await client.videos.downloadTo(video.id, out);
    expect(result.contentType).toMatch(/^video\/mp4/);
    expect(result.bytes).toBeGreaterThan(1000);
    const stream = probe(out);
    expect(stream.codec_name).toBe('h264');
    expect(`${stream.width}x${stream.height}`).toBe('256x256');
    expect(Number(stream.nb_read_frames)).toBe(video.num_frames);

    const thumb = await client.videos.downloadTo(video.id, join(dir, 'fox.jpg'), { variant: 'thumbnail' });
    expect(thumb.contentType).toMatch(/^image\//);
    expect(readFileSync(thumb.path).subarray(0, 2).toString('hex')).toMatch(/^(ffd8|5249)/); // JPEG or RIFF/WebP

    const part = await client.videos.content(video.id, { headers: { range: 'bytes=0-99' } });
    expect(part.status).toBe(206);
    expect((await part.buffer()).length).toBe(100);
  });

  it('falls back to polling when asked, and the poll-after hint keeps it working', async () => {
    const seen: Video[] = [];
    const video = await client.videos.createAndWait(
      { prompt: 'polling', size: '256x256', seconds: 1 },
      { polling: true, onProgress: (v) => seen.push(v) },
    );
    expect(video.status).toBe('completed');
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });

  it('answers a create with Prefer: wait once the job is done', async () => {
    const video = await client.videos.create(
      { prompt: 'wait for me', size: '256x256', seconds: 1 },
      { wait: 30 },
    );
    expect(video.status).toBe('completed');
  });

  it('cancels a running job', async () => {
    const created = await client.videos.create({
      prompt: 'long',
      size: '256x256',
      seconds: 10,
      num_inference_steps: 100,
    });
    const cancelled = await client.videos.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    expect((await client.videos.wait(created.id)).status).toBe('cancelled');
    await expect(client.videos.content(created.id, { maxRetries: 0 })).rejects.toBeInstanceOf(ConflictError);
  });

  it('uploads input_reference as a path, a Buffer, a Blob and a stream; the same image under one seed shares a result', async () => {
    const image = solidColorImage(join(dir, 'teal.png'), '0x008080', 256, 256);
    const bytes = readFileSync(image);
    const base = { prompt: 'a teal square', size: '256x256', seed: 11, num_inference_steps: 2 } as const;
    const fromPath = await client.videos.createAndWait({ ...base, input_reference: image });
    expect(fromPath.status).toBe('completed');
    expect(fromPath.input_reference).toMatchObject({ width: 256, height: 256 });
    expect(fromPath.input_reference!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const others = [bytes, new Blob([bytes]), createReadStream(image)];
    for (const input_reference of others) {
      const again = await client.videos.create({ ...base, input_reference });
      expect(again.input_reference).toEqual(fromPath.input_reference);
      expect(again.cached).toBe(true); // same prompt, seed and fitted image: the result cache answers
    }
    const dataURL = `data:image/png;base64,${bytes.toString('base64')}`;
    expect((await client.videos.create({ ...base, input_reference: dataURL })).cached).toBe(true);
  });

  it('names input_reference when the file is not an image', async () => {
    const error = await client.videos
      .create({ prompt: 'x', input_reference: Buffer.from('not an image at all') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe('input_reference');
  });

  it('surfaces a bad size as BadRequestError with param "size"', async () => {
    const error = (await client.videos
      .create({ prompt: 'x', size: '7x7' })
      .catch((e: unknown) => e)) as BadRequestError;
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.status).toBe(400);
    expect(error.param).toBe('size');
    expect(error.code).toBe('unsupported_size');
    expect(error.message).toContain('7x7');
    expect(error.requestId).toEqual(expect.any(String));
  });

  it('dedupes creates with the same Idempotency-Key', async () => {
    const params = { prompt: 'same key', size: '256x256', seconds: 1 };
    const a = await client.videos.create(params, { idempotencyKey: 'sdk-it-key-1' });
    const b = await client.videos.create(params, { idempotencyKey: 'sdk-it-key-1' });
    expect(b.id).toBe(a.id);
  });

  it('pages through every video with for await', async () => {
    const ids: string[] = [];
    for await (const video of client.videos.list({ limit: 2 })) ids.push(video.id);
    const page = await client.videos.list({ limit: 100 });
    expect(ids).toEqual(page.data.map((v) => v.id));
    expect(ids.length).toBeGreaterThanOrEqual(4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('deletes a video; later retrieves are NotFoundError', async () => {
    const video = await client.videos.create({ prompt: 'to delete', size: '256x256', seconds: 1 });
    expect(await client.videos.delete(video.id)).toEqual({
      id: video.id,
      object: 'video.deleted',
      deleted: true,
    });
    await expect(client.videos.retrieve(video.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('SDK against the live API with keys', () => {
  let secured: LiveApi;
  beforeAll(async () => {
    secured = await startApi({ T2V_API_KEYS: 'sk-it-1' });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  it('rejects a missing key with AuthenticationError and accepts T2V_API_KEY', async () => {
    const error = await new T2V({ baseURL: secured.url, env: {} }).models.list().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).code).toBe('invalid_api_key');
    const list = await new T2V({ env: { T2V_BASE_URL: secured.url, T2V_API_KEY: 'sk-it-1' } }).models.list();
    expect(list.data.length).toBe(1);
  });
});
