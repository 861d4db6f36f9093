/**
 * The built `t2v` binary against the real API (synthetic engine) on a loopback port, as a user
 * runs it: a child process, its exit code, stdout and stderr, and the MP4 read back by ffprobe.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type LiveApi, startApi, WORKSPACE_ROOT } from '@t2v/testing/live-api';
import { firstFrame, pixelNear, solidColorImage } from '@t2v/testing/media';

const BIN = join(WORKSPACE_ROOT, 'apps/cli/dist/main.js');
const FFPROBE = process.env['FFPROBE'] ?? '/usr/bin/ffprobe';

let api: LiveApi;
const dir = mkdtempSync(join(tmpdir(), 't2v-cli-out-'));

function t2v(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', T2V_BASE_URL: api.url, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.stop();
});

describe('t2v against the live API', () => {
  it('generates with progress, writes an MP4 that ffprobe reads, and finds it again', async () => {
    const out = join(dir, 'fox.mp4');
    const generated = await t2v([
      'generate',
      'a red fox in snow',
      '-o',
      out,
      '--size',
      '256x256',
      '--seconds',
      '1',
      '--steps',
      '6',
      '--seed',
      '42',
    ]);
    expect(generated.stderr).toMatch(/step \d+\/6/);
    expect(generated.code).toBe(0);
    expect(generated.stdout.trim()).toBe(out);
    const probe = JSON.parse(
      execFileSync(FFPROBE, [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=codec_name,width,height',
        '-of',
        'json',
        out,
      ]).toString(),
    ) as { streams: Array<{ codec_name: string; width: number; height: number }> };
    expect(probe.streams[0]).toEqual({ codec_name: 'h264', width: 256, height: 256 });

    const list = await t2v(['list', '--json']);
    const page = JSON.parse(list.stdout) as { data: Array<{ id: string; status: string }> };
    const id = page.data[0]!.id;
    expect(page.data[0]!.status).toBe('completed');
    const got = await t2v(['get', id]);
    expect(got.stdout).toMatch(/^size\s+256x256$/m);
    const again = await t2v(['download', id, '-o', join(dir, 'again.mp4')]);
    expect(again.code).toBe(0);
  });

  it('generates from --image: the first frame is the picture, and get shows the image', async () => {
    // A 480×270 solid orange PNG (16:9): with no --size the server picks the preset closest to it.
    const image = solidColorImage(join(dir, 'orange.png'), '0xff8000', 480, 270);
    const out = join(dir, 'from-image.mp4');
    const generated = await t2v([
      '--json',
      'generate',
      'an orange wall',
      '--image',
      image,
      '-o',
      out,
      '--steps',
      '3',
    ]);
    expect(generated.code).toBe(0);
    const video = JSON.parse(generated.stdout) as {
      id: string;
      size: string;
      input_reference: { width: number; height: number };
    };
    expect(video.size).toBe('320x192'); // 5:3, the synthetic presets' closest to 16:9
    expect(video.input_reference).toMatchObject({ width: 320, height: 192 });
    // The synthetic engine starts from the fitted image: the first frame's centre is orange.
    expect(pixelNear(firstFrame(out), 320, 160, 96, [0xff, 0x80, 0x00], 24)).toBe(true);
    const shown = await t2v(['get', video.id]);
    expect(shown.stdout).toMatch(/^image\s+320x192, sha256 [0-9a-f]{12}…$/m);
  });

  it('saves each live preview with --preview-dir while the video renders', async () => {
    const live = await startApi({
      T2V_SYNTHETIC_STEP_MS: '150',
      T2V_PREVIEW_EVERY_STEPS: '1',
      T2V_PREVIEW_MIN_INTERVAL_S: '0',
    });
    try {
      const previews = join(dir, 'previews');
      const args = ['generate', 'a kite over the sea', '-o', join(dir, 'kite.mp4'), '--size', '256x256'];
      args.push('--seconds', '1', '--steps', '6', '--preview-dir', previews);
      const result = await t2v(args, { T2V_BASE_URL: live.url });
      expect(result.code).toBe(0);
      const files = readdirSync(previews).sort();
      // One per step but the last; each a JPEG named by its step; the picture changes.
      expect(files.length).toBeGreaterThanOrEqual(2);
      for (const f of files) expect(f).toMatch(/^video_\w+-step-00[1-5]\.jpg$/);
      const bytes = files.map((f) => readFileSync(join(previews, f)));
      for (const b of bytes) expect([b[0], b[1]]).toEqual([0xff, 0xd8]);
      expect(new Set(bytes.map((b) => b.toString('base64'))).size).toBe(files.length);
      expect(result.stderr).toMatch(new RegExp(`${files.length} preview\\(s\\) in `));
      const refused = await t2v(['generate', 'p', '--preview-dir', previews, '--no-preview']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/--preview-dir and --no-preview/);
    } finally {
      await live.stop();
    }
  });

  it('shows the API message as is and exits 3 on a bad size', async () => {
    const result = await t2v(['generate', 'x', '--size', '7x7']);
    expect(result.code).toBe(3);
    expect(result.stderr.split('\n')[0]).toBe(
      "t2v: Unsupported size '7x7': sides must be 32 to 1280 pixels (multiples of 32) and at most 901120 pixels in all. Tested presets: 1280x704, 704x1280, 832x480, 480x832, 320x192, 192x320, 256x256.",
    );
    expect(result.stderr).toContain('param size');
  });

  it('on Ctrl-C stops waiting, cancels the job on the server, and exits 130', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'generate', 'long one', '--size', '256x256', '--seconds', '10', '--steps', '100'],
      {
        env: { PATH: process.env['PATH'] ?? '', T2V_BASE_URL: api.url },
      },
    );
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (!interrupted && /step \d+\/100/.test(stderr)) {
        interrupted = true; // one Ctrl-C: the graceful path (cancel, then exit 130)
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    const id = /interrupted; cancelled (video_\w+)/.exec(stderr)?.[1];
    expect(id).toBeDefined();
    const shown = await t2v(['get', id!, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id, status: 'cancelled' });
  });

  it('exits 5 for an unknown id and lists models', async () => {
    expect((await t2v(['get', 'video_00000000000000000000000000'])).code).toBe(5);
    const models = await t2v(['models']);
    expect(models.code).toBe(0);
    expect(models.stdout).toContain('synthetic');
  });

  it('exits 0 without a word when the reader of its output goes away (`t2v --help | head`)', async () => {
    for (const args of [['--help'], ['list', '--json']]) {
      const child = spawn(process.execPath, [BIN, ...args], {
        env: { PATH: process.env['PATH'] ?? '', T2V_BASE_URL: api.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.destroy(); // the reader is gone before the first write: every write is EPIPE
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
      expect({ args, code, stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  });
});
