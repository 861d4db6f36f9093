/**
 * The synthetic engine as the API sees it: a real process on stdio, real MP4s read back by ffprobe.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import {
  modelCardProblem,
  NO_TRANSFORMER,
  PROTOCOL_VERSION,
  WORKER_EXIT_PERMANENT,
  type GenerateParams,
  type GenerateRequest,
  type WorkerEvent,
} from '@t2v/contracts';

import { firstFrame, pixelNear } from '@t2v/testing/media';
import { WorkerHarness } from '@t2v/testing/worker-harness';

import { syntheticCard } from './synthetic-card';

jest.setTimeout(60000);

const REPO_ROOT = resolve(__dirname, '../../..');
const MAIN = join(__dirname, 'main.ts');
const FFPROBE = process.env['FFPROBE'] ?? 'ffprobe';
const FFMPEG = process.env['T2V_FFMPEG'] ?? 'ffmpeg';

function startEngine(env: NodeJS.ProcessEnv = {}): WorkerHarness {
  return new WorkerHarness(
    process.execPath,
    ['-r', '@swc-node/register', MAIN],
    { T2V_SYNTHETIC_STEP_MS: '5', ...env },
    REPO_ROOT,
  );
}

function params(overrides: Partial<GenerateParams> = {}): GenerateParams {
  return {
    prompt: 'a red fox running through snow',
    negative_prompt: null,
    width: 320,
    height: 192,
    num_frames: 25,
    fps: 8,
    num_inference_steps: 4,
    guidance_scale: 5,
    seed: 42,
    flow_shift: null,
    acceleration: 'auto',
    image: null,
    loras: [],
    preview: false,
    ...overrides,
  };
}

function generate(jobId: string, dir: string, overrides: Partial<GenerateParams> = {}): GenerateRequest {
  return {
    type: 'generate',
    job_id: jobId,
    params: params(overrides),
    out_path: join(dir, `${jobId}.mp4`),
    thumbnail_path: join(dir, `${jobId}.jpg`),
  };
}

function probe(path: string, countFrames = false): Record<string, string | number> {
  const out = execFileSync(FFPROBE, [
    '-v',
    'error',
    ...(countFrames ? ['-count_frames'] : []),
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,pix_fmt,width,height,nb_read_frames',
    '-of',
    'json',
    path,
  ]);
  return (JSON.parse(out.toString()) as { streams: Record<string, string | number>[] }).streams[0]!;
}

/** MD5 of the decoded frames: what a viewer sees, independent of container details. */
function decodedHash(path: string): string {
  return execFileSync(FFMPEG, [
    '-v',
    'error',
    '-i',
    path,
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-f',
    'md5',
    '-',
  ])
    .toString()
    .trim();
}

/** Whether this machine lets an unprivileged user namespace mount a tmpfs (to fake a full disk). */
function canMountPrivateTmpfs(): boolean {
  try {
    execFileSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

const tempLeftovers = (dir: string): string[] => readdirSync(dir).filter((f) => f.includes('.tmp'));

/** A directory nobody can create files in, root included (immutable flag when running as root). */
function readOnlyDir(base: string): { dir: string; release: () => void } {
  const dir = join(base, 'readonly');
  mkdirSync(dir);
  if (process.getuid?.() !== 0) {
    execFileSync('chmod', ['0555', dir]);
    return { dir, release: () => execFileSync('chmod', ['0755', dir]) };
  }
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    return { dir, release: () => execFileSync('chattr', ['-i', dir]) };
  } catch {
    // No CAP_LINUX_IMMUTABLE: sysfs refuses new files even to root.
    return { dir: '/sys/kernel', release: () => undefined };
  }
}

describe('synthetic engine process', () => {
  let dir: string;
  let engine: WorkerHarness | null = null;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 't2v-synthetic-'));
  });
  afterEach(() => {
    engine?.kill();
    engine = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers ready, progress 1..N and done, and writes a real H.264 MP4 and JPEG thumbnail', async () => {
    engine = startEngine();
    const request = generate('video_ok', dir, { num_inference_steps: 6 });
    engine.send(request);
    const done = await engine.waitForJob('video_ok');

    expect(engine.lifecycle).toEqual<WorkerEvent[]>([
      {
        type: 'ready',
        protocol: PROTOCOL_VERSION,
        device: 'cpu',
        load_s: expect.any(Number),
        card: syntheticCard({ loras: [] }),
      },
      ...[1, 2, 3, 4, 5, 6].map((step) => ({
        type: 'progress' as const,
        job_id: 'video_ok',
        step,
        total: 6,
      })),
      {
        type: 'done',
        job_id: 'video_ok',
        path: request.out_path,
        thumbnail_path: request.thumbnail_path,
        frames: 25,
        fps: 8,
        width: 320,
        height: 192,
        timings: { inference_s: expect.any(Number), encode_s: expect.any(Number) },
        // No transformer: nothing cached, compiled, counted or quantised.
        acceleration: NO_TRANSFORMER,
      },
    ]);
    expect(done.type).toBe('done');
    expect(probe(request.out_path, true)).toEqual({
      codec_name: 'h264',
      pix_fmt: 'yuv420p',
      width: 320,
      height: 192,
      nb_read_frames: '25',
    });
    expect(readFileSync(request.thumbnail_path).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(probe(request.thumbnail_path)).toMatchObject({ codec_name: 'mjpeg', width: 320, height: 192 });
    expect(tempLeftovers(dir)).toEqual([]);
    expect(engine.invalidLines).toEqual([]);
  });

  it('sends a JPEG preview of the frames to come every N steps when asked, and none when not', async () => {
    engine = startEngine({ T2V_PREVIEW_EVERY_STEPS: '2', T2V_PREVIEW_MIN_INTERVAL_S: '0' });
    engine.send(generate('video_preview', dir, { num_inference_steps: 7, preview: true }));
    await engine.waitForJob('video_preview');
    engine.send(generate('video_quiet', dir, { num_inference_steps: 7 }));
    await engine.waitForJob('video_quiet');
    const previews = engine.lifecycle.filter((e) => e.type === 'preview');
    // Steps 2, 4, 6 (never the last); only for the job that asked.
    expect(previews.map((p) => [p.job_id, p.step, p.total])).toEqual([
      ['video_preview', 2, 7],
      ['video_preview', 4, 7],
      ['video_preview', 6, 7],
    ]);
    const pictures = previews.map((p) => Buffer.from(p.data, 'base64'));
    for (const [i, picture] of pictures.entries()) {
      expect(previews[i]).toMatchObject({ mime: 'image/jpeg', width: 640, height: 384 });
      expect(picture.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    }
    // Each later preview is nearer the clip: the noise fades as the steps go by.
    expect(new Set(pictures.map((p) => p.toString('base64'))).size).toBe(3);
    expect(pictures[2]!.length).toBeLessThan(pictures[0]!.length);
    expect(engine.invalidLines).toEqual([]);
  });

  it('renders the same frames for the same prompt and seed, different ones for another seed', async () => {
    engine = startEngine();
    engine.send(generate('a', dir));
    await engine.waitForJob('a');
    engine.send(generate('b', dir));
    await engine.waitForJob('b');
    engine.send(generate('c', dir, { seed: 43 }));
    await engine.waitForJob('c');

    expect(engine.lifecycle.filter((e) => e.type === 'done')).toHaveLength(3);
    const [a, b, c] = ['a', 'b', 'c'].map((id) => decodedHash(join(dir, `${id}.mp4`)));
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(readFileSync(join(dir, 'a.mp4')).equals(readFileSync(join(dir, 'b.mp4')))).toBe(true);
    expect(engine.invalidLines).toEqual([]);
  });

  it('starts an image-to-video clip on the image, checks its hash, and fails a job whose image is missing', async () => {
    // Left half red, right half blue: first frame must show it, the last one the pattern alone.
    const { width, height } = { width: 320, height: 192 };
    const raw = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        raw.set(x < width / 2 ? [230, 20, 20] : [20, 20, 230], (y * width + x) * 3);
    const png = join(dir, 'input.png');
    execFileSync(
      FFMPEG,
      ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`].concat([
        '-i',
        'pipe:0',
        '-frames:v',
        '1',
        png,
      ]),
      { input: raw },
    );
    const sha256 = createHash('sha256').update(readFileSync(png)).digest('hex');
    engine = startEngine();
    engine.send(generate('i2v', dir, { image: { path: png, sha256, width, height } }));
    expect(await engine.waitForJob('i2v')).toMatchObject({ type: 'done' });
    const first = firstFrame(join(dir, 'i2v.mp4'));
    expect(first.length).toBe(width * height * 3);
    expect(pixelNear(first, width, 40, 40, [230, 20, 20], 24)).toBe(true);
    expect(pixelNear(first, width, 280, 150, [20, 20, 230], 24)).toBe(true);
    engine.send(generate('t2v', dir));
    await engine.waitForJob('t2v');
    expect(decodedHash(join(dir, 'i2v.mp4'))).not.toBe(decodedHash(join(dir, 't2v.mp4')));

    engine.send(generate('altered', dir, { image: { path: png, sha256: '0'.repeat(64), width, height } }));
    expect(await engine.waitForJob('altered')).toMatchObject({ type: 'error', code: 'INVALID_PARAMS' });
    engine.send(generate('gone', dir, { image: { path: join(dir, 'no.png'), sha256, width, height } }));
    const gone = await engine.waitForJob('gone');
    expect(gone).toMatchObject({ type: 'error', code: 'INVALID_PARAMS' });
    expect(existsSync(join(dir, 'gone.mp4'))).toBe(false);
    expect(engine.invalidLines).toEqual([]);
  });

  it('reports the T2V_LORAS names as loaded and folds adapters and scales into the clip, deterministically', async () => {
    engine = startEngine({ T2V_LORAS: 'style=/nowhere/style.safetensors,motion=/nowhere/motion' });
    const loras = (l: GenerateParams['loras']) => ({ loras: l });
    const jobs: Array<[string, GenerateParams['loras']]> = [
      ['plain', []],
      ['s08', [{ name: 'style', scale: 0.8 }]],
      ['s08b', [{ name: 'style', scale: 0.8 }]],
      ['s05', [{ name: 'style', scale: 0.5 }]],
    ];
    // One job at a time: the engine refuses a second while busy.
    for (const [id, l] of jobs) {
      engine.send(generate(id, dir, loras(l)));
      expect(await engine.waitForJob(id)).toMatchObject({ type: 'done' });
    }
    expect(engine.lifecycle[0]).toMatchObject({ type: 'ready', card: { loras: ['style', 'motion'] } });
    const [plain, s08, s08b, s05] = ['plain', 's08', 's08b', 's05'].map((id) =>
      decodedHash(join(dir, `${id}.mp4`)),
    );
    expect(s08).toBe(s08b);
    expect(new Set([plain, s08, s05]).size).toBe(3);
  });

  it('stops a cancelled job at the next step, leaves no file, ignores unknown ids, and stays usable', async () => {
    engine = startEngine({ T2V_SYNTHETIC_STEP_MS: '40' });
    const request = generate('video_cancel', dir, { num_inference_steps: 50 });
    engine.send(request);
    await engine.waitFor((e) => e.type === 'progress' && e.step === 2);
    engine.send({ type: 'cancel', job_id: 'someone_else' });
    engine.send({ type: 'cancel', job_id: 'video_cancel' });
    const result = await engine.waitForJob('video_cancel');

    expect(result).toMatchObject({ type: 'error', job_id: 'video_cancel', code: 'CANCELLED' });
    const steps = engine.lifecycle
      .filter((e) => e.type === 'progress')
      .map((e) => (e.type === 'progress' ? e.step : 0));
    expect(Math.max(...steps)).toBeLessThanOrEqual(4);
    expect(existsSync(request.out_path)).toBe(false);
    expect(existsSync(request.thumbnail_path)).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);

    engine.send(generate('after_cancel', dir));
    expect(await engine.waitForJob('after_cancel')).toMatchObject({ type: 'done' });
  });

  it('rejects a second job while busy and invalid requests that name a job', async () => {
    engine = startEngine({ T2V_SYNTHETIC_STEP_MS: '30' });
    engine.send(generate('first', dir, { num_inference_steps: 10 }));
    await engine.waitFor((e) => e.type === 'progress');
    engine.send(generate('second', dir));
    expect(await engine.waitForJob('second')).toMatchObject({ type: 'error', code: 'ENGINE_ERROR' });
    engine.sendRaw(JSON.stringify({ ...generate('bad', dir), params: { prompt: 'p' } }));
    expect(await engine.waitForJob('bad')).toMatchObject({ type: 'error', code: 'INVALID_PARAMS' });
    engine.sendRaw('this is not a request');
    expect(await engine.waitForJob('first')).toMatchObject({ type: 'done' });
    expect(engine.stderr).toContain('ignoring invalid request');
  });

  it('reports STORAGE_ERROR for a read-only or missing directory, leaves nothing behind, and keeps serving', async () => {
    const readOnly = readOnlyDir(dir);
    try {
      engine = startEngine();
      const request = generate('video_ro', readOnly.dir);
      engine.send(request);
      const result = await engine.waitForJob('video_ro');
      expect(result).toMatchObject({ type: 'error', job_id: 'video_ro', code: 'STORAGE_ERROR' });
      expect(result.type === 'error' && result.message).toContain(readOnly.dir);
      expect(existsSync(request.out_path)).toBe(false);
      expect(readdirSync(readOnly.dir).filter((f) => f.includes('video_ro'))).toEqual([]);

      engine.send(generate('video_missing', join(dir, 'no', 'such', 'dir')));
      expect(await engine.waitForJob('video_missing')).toMatchObject({
        type: 'error',
        code: 'STORAGE_ERROR',
      });

      const next = generate('video_next', dir);
      engine.send(next);
      expect(await engine.waitForJob('video_next')).toMatchObject({ type: 'done' });
      expect(probe(next.out_path, true)).toMatchObject({ codec_name: 'h264', nb_read_frames: '25' });
    } finally {
      readOnly.release();
    }
  });

  const itWithTmpfs = canMountPrivateTmpfs() ? it : it.skip;
  itWithTmpfs(
    'reports STORAGE_ERROR when the disk fills up mid-encode, removes the temp file, and keeps serving',
    async () => {
      const small = join(dir, 'small');
      mkdirSync(small);
      // The engine runs in its own mount namespace with a 64 KiB tmpfs over `small`.
      const script = `mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" -r @swc-node/register "$3"`;
      engine = new WorkerHarness(
        'unshare',
        ['-rm', 'sh', '-c', script, 'sh', small, process.execPath, MAIN],
        { T2V_SYNTHETIC_STEP_MS: '0' },
        REPO_ROOT,
      );
      engine.send(generate('video_full', small, { width: 1280, height: 704, num_frames: 41 }));
      const result = await engine.waitForJob('video_full');
      expect(result).toMatchObject({ type: 'error', code: 'STORAGE_ERROR' });
      expect(result.type === 'error' && result.message).toMatch(
        /video_full\.(mp4|jpg): No space left on device/,
      );

      engine.send(generate('video_fits', small, { width: 64, height: 64, num_frames: 5 }));
      expect(await engine.waitForJob('video_fits')).toMatchObject({ type: 'done' });
      // Only the namespace sees the tmpfs, so ask the engine's side what is there: a second job
      // succeeding in 64 KiB proves the failed job's temp file was removed.
      expect(engine.invalidLines).toEqual([]);
    },
  );

  it('heartbeats while idle and during a job', async () => {
    engine = startEngine({ T2V_HEARTBEAT_INTERVAL_S: '0.05', T2V_SYNTHETIC_STEP_MS: '40' });
    engine.send(generate('video_hb', dir, { num_inference_steps: 8 }));
    await engine.waitForJob('video_hb');
    const start = engine.events.findIndex((e) => e.type === 'progress');
    const end = engine.events.findIndex((e) => e.type === 'done');
    expect(engine.events.slice(start, end).some((e) => e.type === 'heartbeat')).toBe(true);
    expect(engine.events.find((e) => e.type === 'heartbeat')).toEqual({
      type: 'heartbeat',
      gpu_mem_bytes: null,
      gpu_mem_total_bytes: null,
      rss_bytes: expect.any(Number),
    });
    expect(engine.invalidLines).toEqual([]);
  });

  it('finishes the current job on shutdown, then exits 0', async () => {
    engine = startEngine({ T2V_SYNTHETIC_STEP_MS: '20' });
    const request = generate('video_last', dir, { num_inference_steps: 5 });
    engine.send(request);
    await engine.waitFor((e) => e.type === 'progress');
    engine.send({ type: 'shutdown' });
    engine.closeStdin();
    expect(await engine.exited).toEqual({ code: 0, signal: null });
    expect(engine.lifecycle.at(-1)).toMatchObject({ type: 'done', job_id: 'video_last' });
    expect(existsSync(request.out_path)).toBe(true);
  });

  it('exits 0 on stdin EOF, abandoning the job without leaving files', async () => {
    engine = startEngine({ T2V_SYNTHETIC_STEP_MS: '50' });
    const request = generate('video_eof', dir, { num_inference_steps: 50 });
    engine.send(request);
    await engine.waitFor((e) => e.type === 'progress');
    engine.closeStdin();
    expect(await engine.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(request.out_path)).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('reports ENGINE_ERROR when ffmpeg fails, leaving no files', async () => {
    engine = startEngine({ T2V_FFMPEG: '/bin/false' });
    const request = generate('video_ffmpeg_fails', dir);
    engine.send(request);
    expect(await engine.waitForJob('video_ffmpeg_fails')).toMatchObject({
      type: 'error',
      code: 'ENGINE_ERROR',
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('falls back to the @ffmpeg-installer binary when T2V_FFMPEG is unset and PATH has no ffmpeg', async () => {
    engine = startEngine({ T2V_FFMPEG: '', PATH: '/nonexistent' });
    const request = generate('video_static', dir, { width: 64, height: 64, num_frames: 5 });
    engine.send(request);
    expect(await engine.waitForJob('video_static')).toMatchObject({ type: 'done' });
    expect(engine.stderr).toContain('@ffmpeg-installer');
    expect(probe(request.out_path, true)).toMatchObject({
      codec_name: 'h264',
      pix_fmt: 'yuv420p',
      nb_read_frames: '5',
    });
  });

  it('reports MODEL_LOAD_FAILED and exits 78 (permanent: no restart heals it) when T2V_FFMPEG is not executable', async () => {
    engine = startEngine({ T2V_FFMPEG: join(dir, 'no-ffmpeg') });
    expect(await engine.exited).toEqual({ code: WORKER_EXIT_PERMANENT, signal: null });
    expect(engine.events).toEqual([
      {
        type: 'error',
        job_id: null,
        code: 'MODEL_LOAD_FAILED',
        message: expect.stringContaining('T2V_FFMPEG'),
      },
    ]);
  });
});

describe('synthetic engine sources', () => {
  it('import only node builtins, @t2v/contracts, @ffmpeg-installer and each other (no NestJS, no API code)', () => {
    const sources = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
    const imports = sources.flatMap((f) =>
      [...readFileSync(join(__dirname, f), 'utf8').matchAll(/(?:from|require\()\s*'([^']+)'/g)].map(
        (m) => m[1]!,
      ),
    );
    expect(imports.length).toBeGreaterThan(0);
    for (const spec of imports)
      expect(spec).toMatch(/^(node:|@t2v\/contracts$|@ffmpeg-installer\/ffmpeg$|\.\/[\w.-]+$)/);
  });
});

describe('--card', () => {
  it('prints the model card as one JSON line and exits, without ffmpeg or a worker loop', () => {
    const out = execFileSync(process.execPath, ['-r', '@swc-node/register', MAIN, '--card'], {
      cwd: REPO_ROOT,
      env: { PATH: '/nonexistent', T2V_LORAS: 'style=/x.safetensors' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.endsWith('\n') && out.split('\n').length === 2).toBe(true);
    const card = JSON.parse(out) as unknown;
    expect(card).toEqual(syntheticCard({ loras: ['style'] }));
    expect(modelCardProblem(card)).toBeNull();
  });
});
