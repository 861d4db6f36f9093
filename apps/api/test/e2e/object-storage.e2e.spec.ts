import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type RedisProcess, startRedis } from '@t2v/testing/redis';
import { type SeaweedS3, startSeaweed } from '@t2v/testing/seaweedfs';
import sharp from 'sharp';

import { type ApiProcess, getJson, postJson, REPO, startApi, stopAll, waitFor } from '../support/api-process';

/**
 * Outputs in a bucket (`T2V_STORAGE_URL=s3://…`) on a real S3-compatible server started here
 * (SeaweedFS on 127.0.0.1): the walk-through with downloads by redirect and by proxy, the SDK and
 * the CLI through a redirect, a server that goes away mid-upload, expiry and delete, the boot
 * checks, and two API replicas (one of them the GPU tier) sharing nothing but Redis and the bucket.
 */
jest.setTimeout(120_000);

const FFPROBE = process.env['FFPROBE'] ?? '/usr/bin/ffprobe';
const CLI = path.join(REPO, 'apps/cli/dist/main.js');
const BUCKET = 't2v-outputs';
const tmpDir = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `t2v-${name}-`));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let s3: SeaweedS3;

beforeAll(async () => {
  s3 = await startSeaweed();
  await s3.createBucket(BUCKET);
});
afterAll(async () => {
  await s3?.dispose();
});

async function waitTerminal(url: string, id: string, timeoutMs = 60_000): Promise<any> {
  let video: any;
  await waitFor(
    async () => {
      video = (await getJson(`${url}/v1/videos/${id}`)).json;
      return ['completed', 'failed', 'cancelled'].includes(video.status);
    },
    timeoutMs,
    `${id} to end`,
  );
  return video;
}

async function generate(url: string, body: Record<string, unknown> = {}): Promise<any> {
  const created = await postJson(`${url}/v1/videos`, {
    prompt: 'a fox in the snow',
    seconds: 1,
    size: '256x256',
    ...body,
  });
  expect(created.status).toBe(200);
  return waitTerminal(url, created.json.id);
}

function ffprobe(file: string): { codec_name: string; width: number; height: number } {
  const out = JSON.parse(
    execFileSync(FFPROBE, ['-v', 'error', '-show_streams', '-of', 'json', file], { encoding: 'utf8' }),
  );
  return out.streams[0];
}

const scratchFiles = (dir: string) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')) : [];

describe('outputs in a bucket, downloads by redirect (the default)', () => {
  let api: ApiProcess;
  let scratch: string;
  const prefix = 'redirect/';

  beforeAll(async () => {
    scratch = tmpDir('s3-scratch');
    api = await startApi({ ...s3.env(BUCKET, 'redirect'), T2V_STORAGE_DIR: scratch });
  });
  afterAll(async () => {
    await stopAll(api);
  });

  it('create → completed only once the objects are in the bucket; the scratch files are gone', async () => {
    const done = await generate(api.url);
    expect(done.status).toBe('completed');
    expect(await s3.keys(BUCKET, prefix)).toEqual([`${prefix}${done.id}.jpg`, `${prefix}${done.id}.mp4`]);
    expect(scratchFiles(scratch)).toEqual([]);
    const ready = (await getJson(`${api.url}/readyz`)).json;
    expect(JSON.stringify(ready)).toContain(`s3://${BUCKET}/${prefix}`);
  });

  it('content answers 302 to a short-lived presigned URL: the same bytes, Range on the bucket, ffprobe reads it', async () => {
    const done = await generate(api.url, { seed: 3 });
    const res = await fetch(`${api.url}/v1/videos/${done.id}/content`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const location = res.headers.get('location')!;
    expect(location.startsWith(`${s3.endpoint}/${BUCKET}/${prefix}${done.id}.mp4?`)).toBe(true);
    expect(location).toMatch(/X-Amz-Expires=300/);
    const stored = await s3.read(BUCKET, `${prefix}${done.id}.mp4`);
    // Followed, as curl -L and browsers do.
    const followed = Buffer.from(
      await (await fetch(`${api.url}/v1/videos/${done.id}/content`)).arrayBuffer(),
    );
    expect(sha(followed)).toBe(sha(stored));
    const file = path.join(tmpDir('s3-dl'), 'v.mp4');
    fs.writeFileSync(file, followed);
    expect(ffprobe(file)).toMatchObject({ codec_name: 'h264', width: 256, height: 256 });
    // A Range request through the redirect is answered by the bucket.
    const part = await fetch(`${api.url}/v1/videos/${done.id}/content`, {
      headers: { range: 'bytes=10-99' },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-99/${stored.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(stored.subarray(10, 100))).toBe(true);
    // The thumbnail likewise.
    const thumb = await fetch(`${api.url}/v1/videos/${done.id}/content?variant=thumbnail`, {
      redirect: 'manual',
    });
    expect(thumb.status).toBe(302);
    const jpeg = Buffer.from(await (await fetch(thumb.headers.get('location')!)).arrayBuffer());
    expect(await sharp(jpeg).metadata()).toMatchObject({ format: 'jpeg' });
  });

  it('the CLI (the SDK downloadTo inside) follows the redirect: MP4 and thumbnail', async () => {
    const dir = tmpDir('s3-cli');
    const cliOut = path.join(dir, 'cli.mp4');
    const thumbOut = path.join(dir, 'cli.jpg');
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [
          CLI,
          'generate',
          'a heron at dawn',
          '-o',
          cliOut,
          '--thumbnail',
          thumbOut,
          '--size',
          '256x256',
          '--seconds',
          '1',
          '--seed',
          '9',
        ],
        { env: { PATH: process.env['PATH'] ?? '', T2V_BASE_URL: api.url }, timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(run.stderr + run.stdout).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    expect(ffprobe(cliOut)).toMatchObject({ codec_name: 'h264', width: 256, height: 256 });
    expect(await sharp(fs.readFileSync(thumbOut)).metadata()).toMatchObject({ format: 'jpeg' });
    // The bytes are one of the bucket's objects.
    const objects = (await s3.keys(BUCKET, prefix)).filter((k) => k.endsWith('.mp4'));
    const hashes = await Promise.all(objects.map(async (k) => sha(await s3.read(BUCKET, k))));
    expect(hashes).toContain(sha(fs.readFileSync(cliOut)));
  });

  it('DELETE removes the objects; so does expiry', async () => {
    const done = await generate(api.url, { seed: 5 });
    expect(await s3.keys(BUCKET, `${prefix}${done.id}`)).toHaveLength(2);
    expect((await fetch(`${api.url}/v1/videos/${done.id}`, { method: 'DELETE' })).status).toBe(200);
    expect(await s3.keys(BUCKET, `${prefix}${done.id}`)).toEqual([]);

    const expiring = await startApi({
      ...s3.env(BUCKET, 'expiry'),
      T2V_OUTPUT_TTL_HOURS: '0.0005',
      T2V_EXPIRY_SWEEP_S: '0.2',
    });
    try {
      const old = await generate(expiring.url);
      expect(old.status).toBe('completed');
      await waitFor(async () => (await s3.keys(BUCKET, `expiry/${old.id}`)).length === 0, 20_000, 'expiry');
      const gone = await fetch(`${expiring.url}/v1/videos/${old.id}/content`, { redirect: 'manual' });
      expect(gone.status).toBe(404);
      expect(((await gone.json()) as { error: { message: string } }).error.message).toMatch(/expired/);
    } finally {
      await stopAll(expiring);
    }
  });

  it('an object removed behind the API: the API answers 404 naming it, no redirect to a missing object', async () => {
    const done = await generate(api.url, { seed: 6 });
    await s3.remove(BUCKET, `${prefix}${done.id}.mp4`);
    const res = await fetch(`${api.url}/v1/videos/${done.id}/content`, { redirect: 'manual' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      `The video of ${done.id} is missing.`,
    );
  });
});

describe('downloads through the API (T2V_STORAGE_DOWNLOAD=proxy)', () => {
  let api: ApiProcess;

  beforeAll(async () => {
    api = await startApi({ ...s3.env(BUCKET, 'proxy'), T2V_STORAGE_DOWNLOAD: 'proxy' });
  });
  afterAll(async () => {
    await stopAll(api);
  });

  it('streams the object with Range and 416 as for a file', async () => {
    const done = await generate(api.url);
    const stored = await s3.read(BUCKET, `proxy/${done.id}.mp4`);
    const whole = await fetch(`${api.url}/v1/videos/${done.id}/content`, { redirect: 'manual' });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(sha(Buffer.from(await whole.arrayBuffer()))).toBe(sha(stored));
    const part = await fetch(`${api.url}/v1/videos/${done.id}/content`, { headers: { range: 'bytes=-64' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(
      `bytes ${stored.length - 64}-${stored.length - 1}/${stored.length}`,
    );
    expect(Buffer.from(await part.arrayBuffer()).equals(stored.subarray(stored.length - 64))).toBe(true);
    const bad = await fetch(`${api.url}/v1/videos/${done.id}/content`, {
      headers: { range: `bytes=${stored.length}-` },
    });
    expect(bad.status).toBe(416);
    const thumb = await fetch(`${api.url}/v1/videos/${done.id}/content?variant=thumbnail`);
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');
    expect(await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).toMatchObject({ format: 'jpeg' });
    const file = path.join(tmpDir('s3-proxy'), 'v.mp4');
    fs.writeFileSync(file, stored);
    expect(ffprobe(file)).toMatchObject({ codec_name: 'h264' });
  });
});

describe('a storage server that goes away mid-upload', () => {
  it('retries with backoff, then fails the job with STORAGE_ERROR: never completed without its file', async () => {
    const own = await startSeaweed();
    await own.createBucket(BUCKET);
    const scratch = tmpDir('s3-fault');
    // Steps slow enough to stop the server while the job runs; short retries.
    const api = await startApi({
      ...own.env(BUCKET),
      T2V_STORAGE_DIR: scratch,
      T2V_SYNTHETIC_STEP_MS: '150',
      T2V_STORAGE_RETRIES: '3',
      T2V_STORAGE_RETRY_MS: '200',
      T2V_S3_TIMEOUT_S: '2',
    });
    try {
      const created = await postJson(`${api.url}/v1/videos`, {
        prompt: 'lost',
        seconds: 1,
        size: '256x256',
        num_inference_steps: 20,
      });
      expect(created.status).toBe(200);
      const id = created.json.id as string;
      await waitFor(async () => (await getJson(`${api.url}/v1/videos/${id}`)).json.status === 'in_progress');
      await own.stop();
      const done = await waitTerminal(api.url, id);
      expect(done.status).toBe('failed');
      expect(done.error.code).toBe('STORAGE_ERROR');
      expect(done.error.message).toMatch(/after 3 attempts/);
      expect(api.logs.join('\n')).toMatch(/attempt 1 of 3/);
      expect((await fetch(`${api.url}/v1/videos/${id}/content`, { redirect: 'manual' })).status).toBe(409);
      // Nothing half-done is left in scratch; the server, back, holds no object of the job.
      expect(scratchFiles(scratch)).toEqual([]);
      await own.start();
      expect(await own.keys(BUCKET)).toEqual([]);
    } finally {
      await stopAll(api);
      await own.dispose();
    }
  });
});

describe('boot checks', () => {
  const boot = async (env: Record<string, string>) => {
    try {
      const api = await startApi(env, { timeoutMs: 20_000 });
      await stopAll(api);
      return 'booted';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('refused credentials stop the boot naming the keys to set', async () => {
    const message = await boot({ ...s3.env(BUCKET), AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
    expect(message).toMatch(/exited with 78/);
    expect(message).toMatch(/credentials were refused.*AWS_ACCESS_KEY_ID/);
  });

  it('a missing bucket stops the boot naming T2V_STORAGE_URL', async () => {
    const message = await boot({ ...s3.env('no-such-bucket') });
    expect(message).toMatch(/exited with 78/);
    expect(message).toMatch(/bucket 'no-such-bucket' does not exist.*T2V_STORAGE_URL/);
  });

  it('an unreachable endpoint stops the boot naming T2V_S3_ENDPOINT', async () => {
    const message = await boot({ ...s3.env(BUCKET), T2V_S3_ENDPOINT: 'http://127.0.0.1:9' });
    expect(message).toMatch(/exited with 78/);
    expect(message).toMatch(/cannot reach the S3 endpoint.*set T2V_S3_ENDPOINT/);
  });
});

describe('two replicas on Redis and the bucket, no shared directory', () => {
  let redis: RedisProcess;
  let api: ApiProcess;
  let gpu: ApiProcess;

  beforeAll(async () => {
    redis = await startRedis();
    const common = {
      ...s3.env(BUCKET, 'split'),
      T2V_QUEUE: 'redis',
      REDIS_URL: redis.url,
      T2V_REDIS_LOCK_S: '2',
    };
    // Each with its own scratch directory: nothing but Redis and the bucket is shared.
    api = await startApi({ ...common, T2V_ROLE: 'api', T2V_STORAGE_DIR: tmpDir('s3-api') });
    gpu = await startApi({ ...common, T2V_ROLE: 'all', T2V_STORAGE_DIR: tmpDir('s3-gpu') });
  });
  afterAll(async () => {
    await stopAll(api, gpu);
    await redis?.stop();
  });

  it('a job created on one replica and run on the other is served by both, image-to-video included', async () => {
    const image = await sharp({ create: { width: 256, height: 256, channels: 3, background: '#c02020' } })
      .png()
      .toBuffer();
    const created = await postJson(`${api.url}/v1/videos`, {
      prompt: 'from the bucket',
      seconds: 1,
      size: '256x256',
      input_reference: `data:image/png;base64,${image.toString('base64')}`,
    });
    expect(created.status).toBe(200);
    // The API tier (no workers) put the input image in the bucket for the replica that runs it.
    expect(await s3.keys(BUCKET, `split/${created.json.id}`)).toEqual([`split/${created.json.id}.input.png`]);
    const done = await waitTerminal(api.url, created.json.id);
    expect(done.status).toBe('completed');
    expect(await s3.keys(BUCKET, `split/${done.id}`)).toEqual([
      `split/${done.id}.input.png`,
      `split/${done.id}.jpg`,
      `split/${done.id}.mp4`,
    ]);
    const stored = sha(await s3.read(BUCKET, `split/${done.id}.mp4`));
    for (const replica of [api, gpu]) {
      const bytes = Buffer.from(
        await (await fetch(`${replica.url}/v1/videos/${done.id}/content`)).arrayBuffer(),
      );
      expect(sha(bytes)).toBe(stored);
    }
    // And the other way round: created on the replica with workers, read from the API tier.
    const other = await generate(gpu.url, { seed: 8 });
    const bytes = Buffer.from(await (await fetch(`${api.url}/v1/videos/${other.id}/content`)).arrayBuffer());
    expect(sha(bytes)).toBe(sha(await s3.read(BUCKET, `split/${other.id}.mp4`)));
  });
});
