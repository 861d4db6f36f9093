import * as path from 'node:path';

import { FAKE_WORKERS, getJson, postJson, startApi, waitFor } from '../support/api-process';

const fake = (name: string) => JSON.stringify([process.execPath, path.join(FAKE_WORKERS, `${name}.js`)]);

/** What users see when workers misbehave: declared codes, readiness with reasons, no 500s. */
describe('worker faults through the API', () => {
  it('retries a job whose worker dies once, then fails it with WORKER_CRASHED', async () => {
    const api = await startApi({ T2V_WORKER_COMMAND: fake('exit-mid-job'), FAKE_HEARTBEAT_MS: '50' });
    try {
      const created = await postJson(`${api.url}/v1/videos`, { prompt: 'doomed' });
      let video: any;
      await waitFor(
        async () => {
          video = (await getJson(`${api.url}/v1/videos/${created.json.id}`)).json;
          return video.status === 'failed';
        },
        20_000,
        'the job to fail',
      );
      expect(video.error).toMatchObject({ code: 'WORKER_CRASHED' });
      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      const restarts = Number(/t2v_worker_restarts_total\{worker="cpu-0"\} (\d+)/.exec(metrics)?.[1]);
      expect(restarts).toBe(2); // one crash per attempt: the first run and the retry
      // The API itself stays up and the worker comes back.
      await waitFor(async () => (await getJson(`${api.url}/readyz`)).status === 200, 10_000, 'ready again');
    } finally {
      await api.stop();
    }
  });

  it('stays live but not ready while the worker cannot start, with the reason in /readyz', async () => {
    const api = await startApi({ T2V_WORKER_COMMAND: fake('crash-in-setup') }, { waitReady: false });
    try {
      await waitFor(
        async () => {
          const r = await getJson(`${api.url}/readyz`);
          return r.status === 503 && JSON.stringify(r.json).includes('MODEL_LOAD_FAILED');
        },
        10_000,
        'readiness to report the load failure',
      );
      expect((await getJson(`${api.url}/healthz`)).status).toBe(200);
      // Jobs are still accepted (and kept) while no worker is ready.
      const created = await postJson(`${api.url}/v1/videos`, { prompt: 'queued while down' });
      expect(created.status).toBe(200);
      expect(created.json.status).toBe('queued');
    } finally {
      await api.stop();
    }
  });

  it('turns not ready when the worker is frozen (SIGSTOP), then restarts it', async () => {
    const api = await startApi({ T2V_HEARTBEAT_INTERVAL_S: '0.2', T2V_HEARTBEAT_TIMEOUT_S: '1.5' });
    try {
      const ready = await getJson(`${api.url}/readyz`);
      expect(ready.status).toBe(200);
      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      expect(metrics).toMatch(/t2v_worker_state\{worker="cpu-0",state="READY"\} 1/);
      // Find the worker: the only child process of the API.
      const { execFileSync } = await import('node:child_process');
      const pid = Number(
        execFileSync('pgrep', ['-P', String(api.child.pid)], { encoding: 'utf8' })
          .trim()
          .split('\n')[0],
      );
      expect(pid).toBeGreaterThan(0);
      process.kill(pid, 'SIGSTOP');
      const stoppedAt = Date.now();
      await waitFor(async () => (await getJson(`${api.url}/readyz`)).status === 503, 5000, 'not ready');
      expect(Date.now() - stoppedAt).toBeLessThan(4000);
      await waitFor(
        async () => (await getJson(`${api.url}/readyz`)).status === 200,
        10_000,
        'ready after restart',
      );
      const after = await (await fetch(`${api.url}/metrics`)).text();
      expect(after).toMatch(/t2v_worker_restarts_total\{worker="cpu-0"\} 1/);
      const job = await postJson(
        `${api.url}/v1/videos`,
        { prompt: 'after the freeze' },
        { Prefer: 'wait=20' },
      );
      expect(job.json.status).toBe('completed');
    } finally {
      await api.stop();
    }
  });

  it('bounds the queue exactly under concurrency: 20 creates at a limit of 8, 12 × 503 with Retry-After, 0 × 500', async () => {
    // No worker ever becomes ready, so nothing leaves the queue while the burst arrives.
    const api = await startApi(
      { T2V_MAX_QUEUE: '8', T2V_WORKER_COMMAND: fake('silent-setup') },
      { waitReady: false },
    );
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => postJson(`${api.url}/v1/videos`, { prompt: `burst ${i}` })),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(8);
      expect(statuses.filter((s) => s === 503)).toHaveLength(12);
      for (const r of results.filter((x) => x.status === 503)) {
        expect(r.json.error.code).toBe('queue_full');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      const list = await getJson(`${api.url}/v1/videos?limit=100`);
      expect(list.json.data).toHaveLength(8);
    } finally {
      await api.stop();
    }
  });
});
