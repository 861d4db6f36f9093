import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ExitCode } from './exit-codes.js';
import { createBody, FAKE_MODEL, fakeApi } from './testing/fake-api.js';
import { runCli } from './testing/capture.js';

const dir = () => mkdtempSync(join(tmpdir(), 't2v-cli-'));

describe('t2v generate', () => {
  it('creates, shows queue position then steps on stderr, downloads, prints the path', async () => {
    const out = join(dir(), 'out.mp4');
    const { code, stdout, stderr, api } = await runCli([
      'generate',
      'a red fox',
      '-o',
      out,
      '--size',
      '256x256',
      '--seconds',
      '1',
      '--seed',
      '7',
      '--steps',
      '4',
      '--no-acceleration',
    ]);
    expect(code).toBe(ExitCode.OK);
    expect(stdout).toBe(`${out}\n`);
    expect(readFileSync(out, 'utf8')).toBe('fake mp4 bytes for video_001');
    expect(stderr).toContain('video_001  queued, position 2');
    expect(stderr).toContain('queued, position 1');
    expect(stderr).toMatch(/step 2\/4/);
    expect(stderr).toMatch(/100%.*step 4\/4|completed/);
    expect(stderr).toMatch(/256x256, 1s, .* done in/);
    const body = JSON.parse(String(api.requests[0]!.body));
    expect(body).toEqual({
      prompt: 'a red fox',
      size: '256x256',
      seconds: 1,
      seed: 7,
      num_inference_steps: 4,
      acceleration: 'none',
    });
    expect(api.requests[0]!.headers['idempotency-key']).toBeDefined();
  });

  it('uploads --image as a multipart file part with the other fields', async () => {
    const image = join(dir(), 'cat.png');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    writeFileSync(image, png);
    const { code, api } = await runCli([
      'generate',
      'a cat',
      '--image',
      image,
      '--seed',
      '3',
      '-o',
      join(dir(), 'o.mp4'),
    ]);
    expect(code).toBe(ExitCode.OK);
    const body = await createBody(api.requests[0]!);
    expect(body['prompt']).toBe('a cat');
    expect(body['seed']).toBe('3');
    const file = body['input_reference'] as File;
    expect(file.name).toBe('cat.png');
    expect(file.type).toBe('image/png');
    expect(Buffer.from(await file.arrayBuffer()).equals(png)).toBe(true);
  });

  it('sends --fit and repeated --lora name[=scale] in order, and refuses a bad one before sending', async () => {
    const image = join(dir(), 'cat.jpg');
    writeFileSync(image, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    const args = [
      'generate',
      'a cat',
      '--image',
      image,
      '--fit',
      'pad',
      '--lora',
      'ink',
      '--lora',
      'film=0.5',
    ];
    const { code, api } = await runCli([...args, '-o', join(dir(), 'o.mp4')]);
    expect(code).toBe(ExitCode.OK);
    const body = await createBody(api.requests[0]!);
    expect(body['input_fit']).toBe('pad');
    expect(JSON.parse(String(body['lora']))).toEqual([
      { name: 'ink', scale: 1 },
      { name: 'film', scale: 0.5 },
    ]);
    const bad = await runCli(['generate', 'a cat', '--lora', 'ink=strong']);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toMatch(/--lora must be a name or name=scale/);
    expect(bad.api.requests).toHaveLength(0);
    const fit = await runCli(['generate', 'a cat', '--fit', 'zoom']);
    expect(fit.code).toBe(ExitCode.USAGE);
  });

  it('exits 2 naming --image when the file cannot be read, before sending anything', async () => {
    const { code, stderr, api } = await runCli(['generate', 'a cat', '--image', join(dir(), 'missing.png')]);
    expect(code).toBe(ExitCode.USAGE);
    expect(stderr).toMatch(/^t2v: --image: cannot read .*missing\.png/);
    expect(api.requests).toHaveLength(0);
  });

  it('prints one JSON object with --json and nothing on stderr with --quiet', async () => {
    const out = join(dir(), 'x.mp4');
    const { code, stdout, stderr } = await runCli(['--json', '-q', 'generate', 'a fox', '-o', out]);
    expect(code).toBe(0);
    const video = JSON.parse(stdout) as { status: string; output: string };
    expect(video.status).toBe('completed');
    expect(video.output).toBe(out);
    expect(stderr).toBe('');
  });

  it('shows the API message as is and exits 3 on a rejected size', async () => {
    const { code, stdout, stderr } = await runCli(['generate', 'a fox', '--size', '7x7']);
    expect(code).toBe(ExitCode.REQUEST_REJECTED);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe(
      `t2v: Unsupported size '7x7'. Supported sizes: ${FAKE_MODEL.presets.sizes.join(', ')}.`,
    );
    expect(stderr).toContain('status 400');
    expect(stderr).toContain('param size');
    expect(stderr).toContain('code unsupported_size');
    expect(stderr).toContain('request id req_');
  });

  it('reports errors as JSON with --json', async () => {
    const { code, stderr } = await runCli(['--json', 'generate', 'a fox', '--size', '7x7']);
    expect(code).toBe(3);
    expect(JSON.parse(stderr)).toMatchObject({
      error: { status: 400, param: 'size', code: 'unsupported_size' },
      exit_code: 3,
    });
  });

  it('exits 8 with the job error when the video fails', async () => {
    const { code, stderr } = await runCli(['generate', 'a fox', '-o', join(dir(), 'f.mp4')], {
      outcome: 'failed',
    });
    expect(code).toBe(ExitCode.VIDEO_FAILED);
    expect(stderr).toContain('t2v: Video video_001 failed: CUDA out of memory');
    expect(stderr).toContain('code GPU_OOM');
  });

  it('cancels the job and exits 130 when interrupted while waiting', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const { code, stderr, api } = await runCli(['generate', 'a fox', '-o', join(dir(), 'i.mp4')], {
      hang: true,
      signal: controller.signal,
    });
    expect(code).toBe(ExitCode.INTERRUPTED);
    expect(stderr).toContain('t2v: interrupted; cancelled video_001');
    expect(
      api.requests.some((r) => r.method === 'POST' && r.url.endsWith('/v1/videos/video_001/cancel')),
    ).toBe(true);
    expect(api.videos.get('video_001')!.status).toBe('cancelled');
  });

  it('exits 2 on a bad number, before sending anything', async () => {
    const { code, stderr, api } = await runCli(['generate', 'a fox', '--steps', 'many']);
    expect(code).toBe(ExitCode.USAGE);
    expect(stderr).toContain('--steps must be an integer');
    expect(api.requests).toHaveLength(0);
  });
});

describe('t2v list / get / download / cancel / delete / models', () => {
  async function withVideo() {
    const api = fakeApi();
    await runCli(['-q', 'generate', 'first', '-o', join(dir(), 'a.mp4')], { api });
    return api;
  }

  it('lists as a table and as JSON', async () => {
    const api = await withVideo();
    const table = await runCli(['list'], { api });
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+PROGRESS\s+SIZE/);
    expect(table.stdout).toMatch(/video_001\s+completed\s+100%\s+320x192/);
    const json = await runCli(['list', '--json', '--limit', '5'], { api });
    expect(JSON.parse(json.stdout)).toMatchObject({ object: 'list', data: [{ id: 'video_001' }] });
    expect(new URL(api.requests.at(-1)!.url).searchParams.get('limit')).toBe('5');
  });

  it('shows one video, and exits 5 for an unknown id', async () => {
    const api = await withVideo();
    const got = await runCli(['get', 'video_001'], { api });
    expect(got.stdout).toMatch(/^id\s+video_001$/m);
    expect(got.stdout).toMatch(/^status\s+completed$/m);
    expect(got.stdout).toMatch(
      /^acceleration\s+auto: cache -, compile -, attention -, weights -, passes -$/m,
    );
    const missing = await runCli(['get', 'video_nope'], { api });
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.stderr.split('\n')[0]).toBe("t2v: No video with id 'video_nope'.");
  });

  it('downloads the video and the thumbnail', async () => {
    const api = await withVideo();
    const d = dir();
    const mp4 = await runCli(['download', 'video_001', '-o', join(d, 'v.mp4')], { api });
    expect(mp4.code).toBe(0);
    expect(mp4.stdout.trim()).toBe(join(d, 'v.mp4'));
    const jpg = await runCli(['download', 'video_001', '--thumbnail', '-o', join(d, 't.jpg')], { api });
    expect(readFileSync(join(d, 't.jpg'), 'utf8')).toContain('jpeg');
    expect(jpg.code).toBe(0);
  });

  it('cancels and deletes', async () => {
    const api = await withVideo();
    expect((await runCli(['cancel', 'video_001'], { api })).stdout).toBe('video_001  cancelled\n');
    const downloaded = await runCli(['download', 'video_001', '-o', join(dir(), 'c.mp4')], { api });
    expect(downloaded.code).toBe(ExitCode.REQUEST_REJECTED);
    expect(downloaded.stderr).toContain('code video_not_ready');
    expect((await runCli(['delete', 'video_001', '--json'], { api })).stdout).toContain('"deleted":true');
  });

  it('lists models with presets', async () => {
    const { code, stdout } = await runCli(['models']);
    expect(code).toBe(0);
    const sizes = FAKE_MODEL.presets.sizes.join(',');
    expect(sizes).toContain('320x192,192x320,256x256');
    expect(stdout).toMatch(
      new RegExp(
        String.raw`t2v-synthetic\s+synthetic\s+320x192\s+${sizes}\s+1-10 \(1\)\s+1-100 \(8\)\s+24\s+text\+image\s+-`,
      ),
    );
  });

  it('prints usage as a table, as CSV, and passes the range and grouping', async () => {
    const shown = await runCli(['usage', '--start', '2026-12-01', '--group-by', 'caller,day']);
    expect(shown.code).toBe(ExitCode.OK);
    const [header, first] = shown.stdout.split('\n');
    expect(header).toMatch(
      /^CALLER\s+DAY\s+COMPLETED\s+FAILED\s+CANCELLED\s+JOBS\s+OUTPUT_S\s+FRAMES\s+GPU_S$/,
    );
    expect(first).toMatch(/^key:alice\s+2026-12-06\s+2\s+1\s+0\s+3\s+10.5\s+252\s+12.25$/);
    expect(shown.stderr).toMatch(/3 jobs, 15.25 GPU-seconds/);
    const query = new URL(shown.api.requests.at(-1)!.url).searchParams;
    expect(query.get('start')).toBe('2026-12-01');
    expect(query.get('group_by')).toBe('caller,day');
    const csv = await runCli(['usage', '--csv']);
    expect(csv.stdout).toBe(
      'caller,model,completed,failed,cancelled,jobs,output_s,frames,gpu_s\n' +
        `key:alice,${FAKE_MODEL.id},2,1,0,3,10.5,252,12.25\n` +
        `"key:b,""quoted""",${FAKE_MODEL.id},2,1,0,3,10.5,252,3\n`,
    );
  });

  it('exits 4 without a valid key, and uses T2V_API_KEY', async () => {
    const denied = await runCli(['models'], { requireKey: 'sk-1' });
    expect(denied.code).toBe(ExitCode.AUTH);
    expect(denied.stderr.split('\n')[0]).toBe('t2v: Invalid or missing API key.');
    expect((await runCli(['models'], { requireKey: 'sk-1', env: { T2V_API_KEY: 'sk-1' } })).code).toBe(0);
    expect((await runCli(['--api-key', 'sk-1', 'models'], { requireKey: 'sk-1' })).code).toBe(0);
  });
});

describe('t2v without a server', () => {
  it('exits 7 when the server cannot be reached', async () => {
    const { run } = await import('./program.js');
    const { captureStream } = await import('./testing/capture.js');
    const stderr = captureStream();
    const code = await run(['--base-url', 'http://127.0.0.1:1', 'models'], {
      stdout: captureStream(),
      stderr,
      env: {},
    });
    expect(code).toBe(ExitCode.CONNECTION);
    expect(stderr.text()).toContain('ECONNREFUSED');
  });

  it('prints help with exit 0 and exits 2 without a command', async () => {
    const { run } = await import('./program.js');
    const { captureStream } = await import('./testing/capture.js');
    const out = captureStream();
    expect(await run(['--help'], { stdout: out, stderr: captureStream(), env: {} })).toBe(0);
    expect(out.text()).toContain('Exit codes:');
    expect(await run([], { stdout: captureStream(), stderr: captureStream(), env: {} })).toBe(ExitCode.USAGE);
  });
});
