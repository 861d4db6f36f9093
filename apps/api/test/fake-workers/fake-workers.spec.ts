/** Each fake worker does what its name says, so supervisor tests can rely on it. */
import { join } from 'node:path';

import type { GenerateRequest } from '@t2v/contracts';

import { WorkerHarness } from '@t2v/testing/worker-harness';

const fake = (name: string, env: NodeJS.ProcessEnv = {}): WorkerHarness =>
  new WorkerHarness(process.execPath, [join(__dirname, `${name}.js`)], { FAKE_HEARTBEAT_MS: '20', ...env });

const generate = (jobId: string, steps = 3): GenerateRequest => ({
  type: 'generate',
  job_id: jobId,
  params: {
    prompt: 'p',
    negative_prompt: null,
    width: 128,
    height: 128,
    num_frames: 17,
    fps: 8,
    num_inference_steps: steps,
    guidance_scale: 1,
    seed: 1,
    flow_shift: null,
    acceleration: 'auto',
    image: null,
    loras: [],
    preview: true,
  },
  out_path: `/tmp/${jobId}.mp4`,
  thumbnail_path: `/tmp/${jobId}.jpg`,
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('fake workers', () => {
  const running: WorkerHarness[] = [];
  const start = (name: string, env?: NodeJS.ProcessEnv): WorkerHarness => {
    const worker = fake(name, env);
    running.push(worker);
    return worker;
  };
  afterEach(() => {
    for (const worker of running.splice(0)) worker.kill();
  });

  it('crash-in-setup: reports MODEL_LOAD_FAILED and exits 1 without ready', async () => {
    const worker = start('crash-in-setup');
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    expect(worker.events).toEqual([
      expect.objectContaining({ type: 'error', job_id: null, code: 'MODEL_LOAD_FAILED' }),
    ]);
  });

  it('crash-in-setup: FAKE_SILENT_CRASH and FAKE_EXIT_CODE', async () => {
    const worker = start('crash-in-setup', { FAKE_SILENT_CRASH: '1', FAKE_EXIT_CODE: '3' });
    expect(await worker.exited).toEqual({ code: 3, signal: null });
    expect(worker.events).toEqual([]);
  });

  it('exit-mid-job: ready, one progress, then killed by SIGKILL', async () => {
    const worker = start('exit-mid-job');
    await worker.waitFor((e) => e.type === 'ready');
    worker.send(generate('j'));
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(worker.lifecycle.map((e) => e.type)).toEqual(['ready', 'progress']);
  });

  it('exit-mid-job: FAKE_EXIT_MODE=exit exits with a code instead', async () => {
    const worker = start('exit-mid-job', { FAKE_EXIT_MODE: 'exit' });
    await worker.waitFor((e) => e.type === 'ready');
    worker.send(generate('j'));
    expect(await worker.exited).toEqual({ code: 1, signal: null });
  });

  it('hang: stops heartbeating and answers nothing, not even shutdown', async () => {
    const worker = start('hang', { FAKE_HEARTBEATS: '2', FAKE_IGNORE_SIGTERM: '1' });
    await worker.waitFor((e) => e.type === 'ready');
    worker.send(generate('j'));
    worker.send({ type: 'shutdown' });
    worker.closeStdin();
    await sleep(300);
    expect(worker.events.map((e) => e.type)).toEqual(['ready', 'heartbeat', 'heartbeat']);
    worker.kill('SIGTERM');
    await sleep(100);
    expect(worker.events).toHaveLength(3);
    expect(worker.stderr).toContain('ignoring SIGTERM');
    worker.kill('SIGKILL');
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it.each([
    ['not-json', 'not JSON'],
    ['unknown-type', 'unknown type "telemetry"'],
    ['bad-field', 'progress: unexpected field "eta"'],
  ])('malformed-line: FAKE_MALFORMED=%s writes a line the protocol rejects', async (kind, error) => {
    const worker = start('malformed-line', { FAKE_MALFORMED: kind });
    await worker.waitFor((e) => e.type === 'ready');
    worker.send(generate('j'));
    await worker.waitFor((e) => e.type === 'heartbeat');
    while (worker.invalidLines.length === 0) await sleep(10);
    expect(worker.invalidLines).toEqual([expect.objectContaining({ error })]);
    expect(worker.lifecycle.map((e) => e.type)).toEqual(['ready']);
  });

  it('slow: steps at FAKE_STEP_MS, rejects a second job, honours cancel', async () => {
    const worker = start('slow', { FAKE_STEP_MS: '30' });
    worker.send(generate('a', 3));
    expect(await worker.waitForJob('a')).toMatchObject({ type: 'done', job_id: 'a', frames: 17 });
    expect(worker.lifecycle.filter((e) => e.type === 'progress')).toHaveLength(3);

    worker.send(generate('b', 100));
    await worker.waitFor((e) => e.type === 'progress' && e.job_id === 'b');
    worker.send(generate('c'));
    expect(await worker.waitForJob('c')).toMatchObject({ type: 'error', code: 'ENGINE_ERROR' });
    worker.send({ type: 'cancel', job_id: 'b' });
    expect(await worker.waitForJob('b')).toMatchObject({ type: 'error', code: 'CANCELLED' });
    expect(worker.invalidLines).toEqual([]);
  });

  it('slow: shutdown finishes the job, then exits 0', async () => {
    const worker = start('slow', { FAKE_STEP_MS: '20' });
    worker.send(generate('a', 5));
    await worker.waitFor((e) => e.type === 'progress');
    worker.send({ type: 'shutdown' });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.lifecycle.at(-1)).toMatchObject({ type: 'done', job_id: 'a' });
  });

  it('silent-setup: never sends ready, even with heartbeats on', async () => {
    const worker = start('silent-setup', { FAKE_HEARTBEAT: '1' });
    worker.send(generate('j'));
    worker.closeStdin();
    // A few heartbeats (however slow the machine is to start the process), and nothing else.
    await worker.waitFor(() => worker.events.length >= 3);
    expect(worker.events.every((e) => e.type === 'heartbeat')).toBe(true);
    expect(worker.lifecycle).toEqual([]);
  });

  it('silent-setup: FAKE_MAX_LIFETIME_MS bounds a forgotten process', async () => {
    const worker = start('silent-setup', { FAKE_MAX_LIFETIME_MS: '100' });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.events).toEqual([]);
  });
});
