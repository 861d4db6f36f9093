import * as path from 'node:path';

import type { GenerateRequest } from '@t2v/contracts';

import { WorkerSupervisor, type WorkerState } from './worker-supervisor';

const FAKES = path.resolve(__dirname, '../../test/fake-workers');

function supervisor(
  fake: string,
  env: Record<string, string> = {},
  overrides: Partial<WorkerSupervisor['spec']> = {},
) {
  return new WorkerSupervisor({
    id: `test-${fake}`,
    device: 'cpu',
    command: [process.execPath, path.join(FAKES, `${fake}.js`)],
    env: { PATH: process.env['PATH'] ?? '', FAKE_HEARTBEAT_MS: '50', ...env },
    startupTimeoutMs: 2000,
    heartbeatTimeoutMs: 400,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    ...overrides,
  });
}

function request(jobId: string, steps = 5): GenerateRequest {
  return {
    type: 'generate',
    job_id: jobId,
    params: {
      prompt: 'p',
      negative_prompt: null,
      width: 64,
      height: 64,
      num_frames: 5,
      fps: 8,
      num_inference_steps: steps,
      guidance_scale: 1,
      seed: 1,
      flow_shift: null,
      acceleration: 'auto',
      image: null,
      loras: [],
    },
    out_path: '/tmp/none.mp4',
    thumbnail_path: '/tmp/none.jpg',
  };
}

function until(w: WorkerSupervisor, state: WorkerState, timeoutMs = 5000): Promise<void> {
  if (w.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker never reached ${state} (is ${w.state})`)),
      timeoutMs,
    );
    const onState = (s: WorkerState) => {
      if (s !== state) return;
      clearTimeout(timer);
      w.off('state', onState);
      resolve();
    };
    w.on('state', onState);
  });
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('WorkerSupervisor', () => {
  const live: WorkerSupervisor[] = [];
  const track = (w: WorkerSupervisor) => (live.push(w), w);
  afterEach(async () => {
    await Promise.all(live.splice(0).map((w) => w.stop(500)));
  });

  it('runs a job on a healthy worker: READY → BUSY → READY with progress and done', async () => {
    const w = track(supervisor('slow', { FAKE_STEP_MS: '10' }));
    const states: WorkerState[] = [];
    w.on('state', (s: WorkerState) => states.push(s));
    w.start();
    await until(w, 'READY');
    const steps: number[] = [];
    const outcome = await w.runJob(request('job-1', 4), (step) => steps.push(step));
    expect(outcome.kind).toBe('done');
    expect(steps).toEqual([1, 2, 3, 4]);
    expect(states).toEqual(['STARTING', 'READY', 'BUSY', 'READY']);
  });

  it('cancels a running job within a step', async () => {
    const w = track(supervisor('slow', { FAKE_STEP_MS: '50' }));
    w.start();
    await until(w, 'READY');
    const run = w.runJob(request('job-c', 100), () => undefined);
    setTimeout(() => w.cancel('job-c'), 120);
    const started = Date.now();
    const outcome = await run;
    expect(outcome).toMatchObject({ kind: 'error', code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(w.state).toBe('READY');
  });

  it('reports a crash in setup, keeps the reason, and retries with backoff', async () => {
    const w = track(supervisor('crash-in-setup', { FAKE_SETUP_MS: '10' }));
    w.start();
    await until(w, 'FAILED');
    expect(w.lastError).toContain('MODEL_LOAD_FAILED');
    await new Promise((r) => setTimeout(r, 600));
    expect(w.restarts).toBeGreaterThanOrEqual(2);
    expect(w.permanent).toBe(false);
    expect(['FAILED', 'STARTING']).toContain(w.state);
  });

  it('doubles the delay between restarts of a transient load failure, up to the cap', async () => {
    const w = track(
      supervisor('crash-in-setup', { FAKE_SETUP_MS: '1' }, { backoffBaseMs: 40, backoffMaxMs: 160 }),
    );
    const failedAt: number[] = [];
    const startedAt: number[] = [];
    w.on('state', (s: WorkerState) => {
      if (s === 'FAILED') failedAt.push(Date.now());
      if (s === 'STARTING') startedAt.push(Date.now());
    });
    w.start();
    await waitUntil(() => startedAt.length >= 6, 10_000);
    // Gap between failure i and the next start: at least the scheduled delay 40, 80, 160, 160, 160.
    const gaps = failedAt.slice(0, 5).map((t, i) => startedAt[i + 1]! - t);
    [40, 80, 160, 160, 160].forEach((delay, i) => expect(gaps[i]).toBeGreaterThanOrEqual(delay - 5));
  });

  it('does not restart a worker whose load failure is permanent (exit 78), and says why', async () => {
    const w = track(supervisor('crash-in-setup', { FAKE_SETUP_MS: '10', FAKE_EXIT_CODE: '78' }));
    const failures: string[] = [];
    w.on('permanent-failure', (reason: string) => failures.push(reason));
    w.start();
    await until(w, 'FAILED');
    await new Promise((r) => setTimeout(r, 500)); // ten backoff periods
    expect(w.state).toBe('FAILED');
    expect(w.restarts).toBe(0);
    expect(w.permanent).toBe(true);
    expect(w.lastError).toMatch(/MODEL_LOAD_FAILED: model directory .*\(permanent: not retried/);
    expect(failures).toHaveLength(1);
  });

  it('treats exit 78 after ready as an ordinary crash (only a load failure is permanent)', async () => {
    const w = track(supervisor('exit-mid-job', { FAKE_EXIT_MODE: 'exit', FAKE_EXIT_CODE: '78' }));
    w.start();
    await until(w, 'READY');
    expect((await w.runJob(request('job-78'), () => undefined)).kind).toBe('crashed');
    await until(w, 'READY');
    expect(w.permanent).toBe(false);
  });

  it('fails a job whose worker exits mid-job, then restarts the worker', async () => {
    const w = track(supervisor('exit-mid-job'));
    w.start();
    await until(w, 'READY');
    const outcome = await w.runJob(request('job-x'), () => undefined);
    expect(outcome.kind).toBe('crashed');
    await until(w, 'READY');
    expect(w.restarts).toBe(1);
  });

  it('quotes why a worker exits mid-job when it says so, and restarts it', async () => {
    const message = 'the CUDA context is unusable after job job-c failed with RuntimeError: CUDA error';
    const w = track(
      supervisor('exit-mid-job', { FAKE_EXIT_MODE: 'exit', FAKE_EXIT_CODE: '1', FAKE_EXIT_MESSAGE: message }),
    );
    w.start();
    await until(w, 'READY');
    const outcome = await w.runJob(request('job-c'), () => undefined);
    expect(outcome).toMatchObject({ kind: 'crashed' });
    expect((outcome as { reason: string }).reason).toBe(
      `exited (code 1, signal null): ENGINE_ERROR: ${message}`,
    );
    await until(w, 'READY');
    expect(w.restarts).toBe(1);
  });

  it('kills and restarts a worker that goes silent (no heartbeat)', async () => {
    const w = track(supervisor('hang', { FAKE_HEARTBEATS: '1', FAKE_IGNORE_SIGTERM: '1' }));
    w.start();
    await until(w, 'READY');
    const outcome = await w.runJob(request('job-h'), () => undefined);
    expect(outcome).toMatchObject({ kind: 'crashed' });
    expect((outcome as { reason: string }).reason).toMatch(/silent/);
    await until(w, 'READY');
  });

  it('kills a worker whose job stops progressing although it still heartbeats', async () => {
    const w = track(supervisor('slow', { FAKE_STEP_MS: '60000' }, { stallTimeoutMs: 300 }));
    w.start();
    await until(w, 'READY');
    const outcome = await w.runJob(request('job-stall'), () => undefined);
    expect(outcome).toMatchObject({ kind: 'crashed' });
    expect((outcome as { reason: string }).reason).toMatch(/made no progress for 0.3s/);
    await until(w, 'READY');
  });

  it('stops a job that outlasts the job timeout: the run ends as timed out, the worker restarts', async () => {
    const w = track(supervisor('slow', { FAKE_STEP_MS: '100' }, { jobTimeoutMs: 300 }));
    w.start();
    await until(w, 'READY');
    const outcome = await w.runJob(request('long', 50), () => undefined);
    expect(outcome).toEqual({ kind: 'timeout', reason: 'job long ran longer than 0.3s (T2V_JOB_TIMEOUT_S)' });
    await until(w, 'READY');
    // A job within the limit runs as usual.
    expect((await w.runJob(request('short', 1), () => undefined)).kind).toBe('done');
  });

  it('treats a malformed line as a protocol violation', async () => {
    const w = track(supervisor('malformed-line'));
    w.start();
    await until(w, 'READY');
    const outcome = await w.runJob(request('job-m'), () => undefined);
    expect(outcome.kind).toBe('crashed');
    expect((outcome as { reason: string }).reason).toMatch(/protocol violation/);
  });

  it('gives up on a worker that never becomes ready within the startup timeout', async () => {
    const w = track(supervisor('silent-setup', {}, { startupTimeoutMs: 300 }));
    w.start();
    await until(w, 'FAILED');
    expect(w.lastError).toMatch(/no ready message within 0.3s/);
  });

  it('reports a missing executable as a failed start, not a crash of the API', async () => {
    const w = track(
      new WorkerSupervisor({
        id: 'missing',
        device: 'cpu',
        command: ['/nonexistent/python'],
        env: {},
        startupTimeoutMs: 1000,
        heartbeatTimeoutMs: 1000,
        backoffBaseMs: 50,
      }),
    );
    w.start();
    await until(w, 'FAILED');
    expect(w.lastError).toMatch(/spawn failed/);
    // Not there now, not there in a second: no crash loop.
    await new Promise((r) => setTimeout(r, 300));
    expect(w.permanent).toBe(true);
    expect(w.restarts).toBe(0);
  });

  it('lets a running job finish on stop (shutdown), then reports STOPPED', async () => {
    const w = track(supervisor('slow', { FAKE_STEP_MS: '20' }));
    w.start();
    await until(w, 'READY');
    const run = w.runJob(request('job-s', 10), () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    await w.stop(5000);
    expect((await run).kind).toBe('done');
    expect(w.state).toBe('STOPPED');
  });
});
