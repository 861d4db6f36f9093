import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';

import { type ApiProcess, getJson, postJson, startApi, waitFor } from '../support/api-process';
import { firstFrame, pixelNear } from '../support/ffprobe';

/**
 * Image-to-video on the synthetic engine through a real HTTP port: multipart and data: URL creates,
 * the official `openai` client unchanged, every bad image refused with a 400 naming
 * `input_reference` and no file left, large uploads refused with an answer the client can read,
 * cache keys per image, and the `lora` field.
 */
const RED = [230, 20, 20] as const;
const BLUE = [20, 20, 230] as const;

/** A PNG: left half red, right half blue (or the reverse). */
function halves(width: number, height: number, flip = false): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) raw.set(x < width / 2 !== flip ? RED : BLUE, (y * width + x) * 3);
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

const dataUrl = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;

/** A PNG whose header says `width`×`height` over a few bytes of pixel data (a decompression bomb). */
function bombPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(4096))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function multipart(fields: Record<string, string>, file?: { bytes: Buffer; name: string; type?: string }) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file)
    form.append('input_reference', new Blob([file.bytes], { type: file.type ?? 'image/png' }), file.name);
  return form;
}

async function post(url: string, body: FormData) {
  const res = await fetch(url, { method: 'POST', body });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as any };
}

/** The first frame of an MP4 (bytes) as packed rgb24. */
function frameOf(bytes: Buffer, dir: string, width: number, height: number): Buffer {
  const file = path.join(dir, `${createHash('md5').update(bytes).digest('hex')}.mp4`);
  fs.writeFileSync(file, bytes);
  const rgb = firstFrame(file);
  expect(rgb.length).toBe(width * height * 3);
  return rgb;
}

function expectColour(frame: Buffer, width: number, x: number, y: number, rgb: readonly number[]) {
  expect({ x, y, near: pixelNear(frame, width, x, y, rgb) }).toEqual({ x, y, near: true });
}

describe('image-to-video (synthetic engine)', () => {
  let api: ApiProcess;
  let storage: string;
  let openai: OpenAI;
  const base = () => `${api.url}/v1/videos`;
  /** Stored inputs and temp files: what a refused image create must not add. */
  const inputFiles = () => fs.readdirSync(storage).filter((f) => f.includes('.input') || f.includes('.tmp'));

  const waitDone = async (id: string) => {
    let video: any;
    await waitFor(
      async () => {
        video = (await getJson(`${base()}/${id}`)).json;
        return ['completed', 'failed', 'cancelled'].includes(video.status);
      },
      30_000,
      `video ${id}`,
    );
    return video;
  };
  const content = async (id: string) =>
    Buffer.from(await (await fetch(`${base()}/${id}/content`)).arrayBuffer());

  beforeAll(async () => {
    api = await startApi({
      T2V_SYNTHETIC_STEP_MS: '5',
      T2V_LORAS: 'style=/loras/style.safetensors,ink=/loras/ink',
    });
    storage = path.join(api.dataDir, 'videos');
    openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
  });
  afterAll(async () => {
    expect(await api.stop()).toBe(0);
  });

  it('lists the inputs and adapters of the model', async () => {
    const models = (await getJson(`${api.url}/v1/models`)).json;
    expect(models.data[0]).toMatchObject({ inputs: ['text', 'image'], loras: ['style', 'ink'] });
  });

  it('takes a multipart upload: picks the preset by aspect ratio, stores the fitted PNG, starts the MP4 on it', async () => {
    // 16:9 → 320x192 (the synthetic default among the near-16:9 presets), cover-cropped.
    const image = await halves(640, 360);
    const created = await post(
      base(),
      multipart({ prompt: 'a cat', seconds: '1', seed: '7' }, { bytes: image, name: 'cat.png' }),
    );
    expect(created.status).toBe(200);
    const id = created.json.id as string;
    expect(created.json).toMatchObject({ size: '320x192', input_reference: { width: 320, height: 192 } });
    const stored = fs.readFileSync(path.join(storage, `${id}.input.png`));
    expect(created.json.input_reference.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    expect(await sharp(stored).metadata()).toMatchObject({ format: 'png', width: 320, height: 192 });
    expect(JSON.stringify(created.json)).not.toContain(storage);

    const done = await waitDone(id);
    expect(done.status).toBe('completed');
    const first = frameOf(await content(id), api.dataDir, 320, 192);
    expectColour(first, 320, 40, 96, RED);
    expectColour(first, 320, 280, 96, BLUE);

    // Deleted with the job.
    expect((await fetch(`${base()}/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect(fs.existsSync(path.join(storage, `${id}.input.png`))).toBe(false);
  });

  it('takes a data: URL in JSON, fits per input_fit, and keys the result cache by the image', async () => {
    const image = await halves(400, 400);
    const body = { prompt: 'cache me', size: '320x192', seed: 11, seconds: 1 };
    const a = await postJson(base(), { ...body, input_reference: dataUrl(image) });
    expect(a.status).toBe(200);
    await waitDone(a.json.id);
    // The same image again (as OpenAI's reference object): a cache hit with the same fitted hash.
    const again = await postJson(base(), { ...body, input_reference: { image_url: dataUrl(image) } });
    expect(again.json).toMatchObject({ cached: true, status: 'completed' });
    expect(again.json.input_reference).toEqual(a.json.input_reference);
    // A cached copy never runs: no input image is written for it.
    expect(fs.existsSync(path.join(storage, `${again.json.id}.input.png`))).toBe(false);
    // Another image, or the same one fitted otherwise, or none: never the same result.
    const other = await postJson(base(), { ...body, input_reference: dataUrl(await halves(400, 400, true)) });
    const padded = await postJson(base(), { ...body, input_reference: dataUrl(image), input_fit: 'pad' });
    const none = await postJson(base(), body);
    for (const r of [other, padded, none]) {
      expect(r.status).toBe(200);
      expect(r.json.cached).toBe(false);
    }
    expect(new Set([a, other, padded].map((r) => r.json.input_reference.sha256)).size).toBe(3);
    expect(none.json.input_reference).toBeNull();
    // pad: the square image sits in the middle with black bars on the sides.
    await waitDone(padded.json.id);
    const first = frameOf(await content(padded.json.id), api.dataDir, 320, 192);
    expectColour(first, 320, 10, 96, [0, 0, 0]);
    expectColour(first, 320, 120, 96, RED);
    expectColour(first, 320, 200, 96, BLUE);
  });

  it('takes the image on /v1/videos/sync too, and keys idempotency and in-flight dedupe by it', async () => {
    const image = await halves(320, 192);
    const sync = await fetch(`${base()}/sync`, {
      method: 'POST',
      body: multipart({ prompt: 'synced', seconds: '1' }, { bytes: image, name: 'a.png' }),
    });
    expect(sync.status).toBe(200);
    expect(sync.headers.get('content-type')).toBe('video/mp4');
    const first = frameOf(Buffer.from(await sync.arrayBuffer()), api.dataDir, 320, 192);
    expectColour(first, 320, 40, 96, RED);

    // 100 steps at 5 ms: in flight for half a second, long enough for the three requests below.
    const body = { prompt: 'once', seed: 3, seconds: 1, num_inference_steps: 100 };
    const key = { 'Idempotency-Key': `image-${Date.now()}` };
    const a = await postJson(base(), { ...body, input_reference: dataUrl(image) }, key);
    const replay = await postJson(base(), { ...body, input_reference: dataUrl(image) }, key);
    expect(replay.json.id).toBe(a.json.id);
    const other = await postJson(
      base(),
      { ...body, input_reference: dataUrl(await halves(320, 192, true)) },
      key,
    );
    expect(other.status).toBe(409);
    // The identical seeded request while the first is in flight: the same job, no second file.
    const twin = await postJson(base(), { ...body, input_reference: dataUrl(image) });
    expect(twin.json.id).toBe(a.json.id);
    expect(
      fs.readdirSync(storage).filter((f) => f.endsWith('.input.png') && f.startsWith(a.json.id)),
    ).toHaveLength(1);
    expect((await waitDone(a.json.id)).status).toBe('completed');
  });

  it('works with the official openai client unchanged: a file upload, then poll to completed', async () => {
    const image = await halves(1280, 720);
    const created = await openai.videos.create({
      prompt: 'a cat on a skateboard',
      seconds: '4',
      input_reference: await toFile(image, 'cat.png', { type: 'image/png' }),
    });
    expect(created.status).toBe('queued');
    expect((created as any).input_reference).toMatchObject({ width: 320, height: 192 });
    let video: OpenAI.Videos.Video | undefined;
    await waitFor(
      async () => {
        video = await openai.videos.retrieve(created.id);
        return video.status === 'completed';
      },
      30_000,
      'the openai client video',
    );
    const mp4 = Buffer.from(await (await openai.videos.downloadContent(created.id)).arrayBuffer());
    const first = frameOf(mp4, api.dataDir, 320, 192);
    expectColour(first, 320, 40, 96, RED);

    // OpenAI's reference object: the client sends it as the form field input_reference[image_url].
    const byUrl = await openai.videos.create({
      prompt: 'a cat on a skateboard',
      input_reference: { image_url: dataUrl(image) },
    });
    expect((byUrl as any).input_reference).toEqual((created as any).input_reference);
    const remote = await openai.videos
      .create({ prompt: 'x', input_reference: { image_url: 'https://example.com/cat.png' } })
      .catch((e: unknown) => e);
    expect(remote).toBeInstanceOf(OpenAI.BadRequestError);
    expect(remote).toMatchObject({ param: 'input_reference' });
  });

  it('refuses each bad image with a 400 naming input_reference, leaving no file and no job', async () => {
    const png = await halves(64, 64);
    const before = (await getJson(`${base()}?limit=100`)).json.data.length;
    const files = inputFiles();
    const animated = await sharp([await halves(64, 64), await halves(64, 64, true)], {
      join: { animated: true },
    })
      .webp()
      .toBuffer();
    const cases: Array<[string, FormData | Record<string, unknown>, string]> = [
      [
        'truncated PNG',
        multipart({ prompt: 'x' }, { bytes: png.subarray(0, 200), name: 'a.png' }),
        'invalid_image',
      ],
      [
        'a text file named .png',
        multipart({ prompt: 'x' }, { bytes: Buffer.from('just text\n'), name: 'cat.png' }),
        'unsupported_image_format',
      ],
      [
        'a 20000x20000 PNG header over a few bytes',
        multipart({ prompt: 'x' }, { bytes: bombPng(20000, 20000), name: 'bomb.png' }),
        'image_too_large',
      ],
      [
        'an empty file',
        multipart({ prompt: 'x' }, { bytes: Buffer.alloc(0), name: 'e.png' }),
        'invalid_image',
      ],
      [
        'a GIF',
        { prompt: 'x', input_reference: dataUrl(Buffer.from('GIF89a......'), 'image/gif') },
        'unsupported_image_format',
      ],
      ['a remote URL', { prompt: 'x', input_reference: 'https://example.com/cat.png' }, 'invalid_value'],
      ['bad base64', { prompt: 'x', input_reference: 'data:image/png;base64,@@@@' }, 'invalid_image'],
      ['a file_id', { prompt: 'x', input_reference: { file_id: 'file_123' } }, 'invalid_value'],
      [
        'an upload and a reference object together',
        multipart({ prompt: 'x', 'input_reference[image_url]': dataUrl(png) }, { bytes: png, name: 'a.png' }),
        'invalid_value',
      ],
    ];
    for (const [what, body, code] of cases) {
      const r = body instanceof FormData ? await post(base(), body) : await postJson(base(), body);
      expect({ what, status: r.status, param: r.json.error?.param, code: r.json.error?.code }).toEqual({
        what,
        status: 400,
        param: 'input_reference',
        code,
      });
      expect(inputFiles()).toEqual(files);
    }
    // An animated image gives its first frame (ADR 0017): accepted.
    const anim = await post(
      base(),
      multipart({ prompt: 'x', seconds: '1', size: '320x192' }, { bytes: animated, name: 'a.webp' }),
    );
    expect(anim.status).toBe(200);
    await waitDone(anim.json.id);
    const first = frameOf(await content(anim.json.id), api.dataDir, 320, 192);
    expectColour(first, 320, 40, 96, RED);
    const after = (await getJson(`${base()}?limit=100`)).json.data.length;
    expect(after).toBe(before + 1);
  });

  it('answers a large upload with a readable 400/413, to the openai client and to a JSON client', async () => {
    const files = inputFiles();
    // 30 MB: over T2V_MAX_IMAGE_BYTES (10 MB) and over the create body limit (~15 MB).
    const big = Buffer.alloc(30 * 1024 * 1024, 7);
    const err = await openai.videos
      .create({ prompt: 'too big', input_reference: await toFile(big, 'big.png', { type: 'image/png' }) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).not.toBeInstanceOf(OpenAI.APIConnectionError);
    const e = err as InstanceType<typeof OpenAI.APIError>;
    expect([400, 413]).toContain(e.status);
    if (e.status === 400) expect(e.param).toBe('input_reference');

    // A file over T2V_MAX_IMAGE_BYTES in a body under the limit: the 400 names the field.
    const over = await openai.videos
      .create({
        prompt: 'just over',
        input_reference: await toFile(Buffer.alloc(11 * 1024 * 1024, 1), 'o.png', { type: 'image/png' }),
      })
      .catch((x: unknown) => x as InstanceType<typeof OpenAI.BadRequestError>);
    expect(over).toBeInstanceOf(OpenAI.BadRequestError);
    expect(over).toMatchObject({ status: 400, param: 'input_reference', code: 'image_too_large' });

    const json = await postJson(base(), { prompt: 'too big', input_reference: dataUrl(big) });
    expect(json.status).toBe(413);
    expect(json.json.error.code).toBe('payload_too_large');
    expect(inputFiles()).toEqual(files);
    // The server is still fine.
    expect((await getJson(`${api.url}/readyz`)).status).toBe(200);
  });

  it('validates lora against T2V_LORAS, reports it, and keys the cache by adapters and scales', async () => {
    const body = { prompt: 'with style', seed: 5, seconds: 1 };
    const unknown = await postJson(base(), { ...body, lora: [{ name: 'nope' }] });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({ param: 'lora', code: 'unknown_lora' });
    expect(unknown.json.error.message).toContain('style, ink');
    const scale = await postJson(base(), { ...body, lora: [{ name: 'style', scale: 3 }] });
    expect(scale.json.error.param).toBe('lora.0.scale');
    const twice = await postJson(base(), { ...body, lora: [{ name: 'ink' }, { name: 'ink', scale: 0.5 }] });
    expect(twice.json.error.param).toBe('lora');
    const many = await postJson(base(), {
      ...body,
      lora: Array.from({ length: 5 }, () => ({ name: 'ink' })),
    });
    expect(many.json.error.param).toBe('lora');

    const a = await postJson(base(), { ...body, lora: [{ name: 'style', scale: 0.8 }] });
    expect(a.status).toBe(200);
    expect(a.json.lora).toEqual([{ name: 'style', scale: 0.8 }]);
    await waitDone(a.json.id);
    const same = await postJson(base(), { ...body, lora: [{ name: 'style', scale: 0.8 }] });
    expect(same.json.cached).toBe(true);
    const defaultScale = await postJson(base(), { ...body, lora: [{ name: 'style' }] });
    expect(defaultScale.json).toMatchObject({ cached: false, lora: [{ name: 'style', scale: 1 }] });
    const none = await postJson(base(), body);
    expect(none.json).toMatchObject({ cached: false, lora: [] });
    // multipart carries it as a JSON string.
    const form = await post(
      base(),
      multipart({ prompt: 'with style', seed: '5', seconds: '1', lora: '[{"name":"style","scale":0.8}]' }),
    );
    expect(form.json).toMatchObject({ cached: true, lora: [{ name: 'style', scale: 0.8 }] });
    const [x, y] = await Promise.all([waitDone(defaultScale.json.id), waitDone(none.json.id)]);
    expect(x.status).toBe('completed');
    expect((await content(x.id)).equals(await content(y.id))).toBe(false);
  });
});

describe('a server without adapters, with outputs kept for about two seconds', () => {
  let api: ApiProcess;
  beforeAll(async () => {
    api = await startApi({
      // 5 ms a step: a 100-step job is still running when the cancel test cancels it.
      T2V_SYNTHETIC_STEP_MS: '5',
      T2V_OUTPUT_TTL_HOURS: '0.0005',
      T2V_EXPIRY_SWEEP_S: '0.2',
    });
  });
  afterAll(async () => {
    expect(await api.stop()).toBe(0);
  });

  it('is a 400 naming lora; the model lists no adapters', async () => {
    expect((await getJson(`${api.url}/v1/models`)).json.data[0].loras).toEqual([]);
    const r = await postJson(`${api.url}/v1/videos`, { prompt: 'x', lora: [{ name: 'style' }] });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ param: 'lora', code: 'unknown_lora' });
  });

  it('deletes the input image of a cancelled job', async () => {
    const created = await postJson(`${api.url}/v1/videos`, {
      prompt: 'never mind',
      seconds: 1,
      num_inference_steps: 100,
      input_reference: dataUrl(await halves(320, 192)),
    });
    const id = created.json.id as string;
    const cancelled = await postJson(`${api.url}/v1/videos/${id}/cancel`, {});
    expect(cancelled.json.status).toBe('cancelled');
    expect(fs.existsSync(path.join(api.dataDir, 'videos', `${id}.input.png`))).toBe(false);
  });

  it('deletes the input image with the outputs when they expire', async () => {
    const created = await postJson(`${api.url}/v1/videos`, {
      prompt: 'short-lived',
      seconds: 1,
      input_reference: dataUrl(await halves(320, 192)),
    });
    expect(created.status).toBe(200);
    const id = created.json.id as string;
    const input = path.join(api.dataDir, 'videos', `${id}.input.png`);
    expect(fs.existsSync(input)).toBe(true);
    await waitFor(
      async () => (await fetch(`${api.url}/v1/videos/${id}/content`)).status === 404,
      15_000,
      'the outputs to expire',
    );
    expect(fs.readdirSync(path.join(api.dataDir, 'videos')).filter((f) => f.startsWith(id))).toEqual([]);
  });

  it('keeps an image job across a crash of the API: the restarted server runs it with its image', async () => {
    const slow = await startApi({ T2V_SYNTHETIC_STEP_MS: '200' });
    const image = await halves(320, 192);
    const created = await postJson(`${slow.url}/v1/videos`, {
      prompt: 'survives',
      size: '320x192',
      num_inference_steps: 20,
      seconds: 1,
      input_reference: dataUrl(image),
    });
    expect(created.status).toBe(200);
    const id = created.json.id as string;
    await waitFor(async () => (await getJson(`${slow.url}/v1/videos/${id}`)).json.status === 'in_progress');
    await slow.kill();
    const again = await startApi({ T2V_SYNTHETIC_STEP_MS: '1' }, { dataDir: slow.dataDir });
    try {
      let video: any;
      await waitFor(
        async () => {
          video = (await getJson(`${again.url}/v1/videos/${id}`)).json;
          return video.status === 'completed' || video.status === 'failed';
        },
        30_000,
        'the job to complete after the restart',
      );
      expect(video).toMatchObject({ status: 'completed', input_reference: created.json.input_reference });
      const mp4 = Buffer.from(await (await fetch(`${again.url}/v1/videos/${id}/content`)).arrayBuffer());
      const first = frameOf(mp4, slow.dataDir, 320, 192);
      expectColour(first, 320, 40, 96, RED);
      expectColour(first, 320, 280, 96, BLUE);
    } finally {
      await again.stop();
    }
  });
});
