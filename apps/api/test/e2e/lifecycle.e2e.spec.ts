import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { getJson, postJson, startApi, waitFor } from '../support/api-process';

const workerPids = (apiPid: number) =>
  execFileSync('pgrep', ['-P', String(apiPid)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);

const canUnshare = (() => {
  try {
    execFileSync('unshare', ['-rm', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const KILLS = 20;

describe('lifecycle and faults', () => {
  it('SIGTERM: readiness 503 at once, new creates 503 within 1 s, running jobs finish, exit 0', async () => {
    const api = await startApi({
      T2V_CPU_WORKERS: '4',
      T2V_SYNTHETIC_STEP_MS: '100',
      T2V_DRAIN_DELAY_S: '2',
      T2V_SHUTDOWN_GRACE_S: '30',
    });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push(
        (await postJson(`${api.url}/v1/videos`, { prompt: `in flight ${i}`, num_inference_steps: 20 })).json
          .id,
      );
    await waitFor(
      async () => {
        const list = (await getJson(`${api.url}/v1/videos?limit=10`)).json;
        return list.data.filter((v: any) => v.status === 'in_progress').length === 4;
      },
      10_000,
      'four jobs in flight',
    );
    const exited = api.stop(); // SIGTERM
    const t0 = Date.now();
    await waitFor(async () => (await getJson(`${api.url}/readyz`)).status === 503, 1000, 'readiness 503');
    const refused = await postJson(`${api.url}/v1/videos`, { prompt: 'too late' });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('shutting_down');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await exited).toBe(0);

    const again = await startApi({}, { dataDir: api.dataDir });
    try {
      for (const id of ids)
        expect((await getJson(`${again.url}/v1/videos/${id}`)).json.status).toBe('completed');
      expect((await getJson(`${again.url}/v1/videos?limit=10`)).json.data).toHaveLength(4);
    } finally {
      await again.stop();
    }
  });

  it('worker SIGKILL mid-job 20 times in a row: READY again each time, no job left in progress', async () => {
    const api = await startApi({ T2V_SYNTHETIC_STEP_MS: '50' });
    try {
      const ids: string[] = [];
      for (let i = 0; i < KILLS; i++) {
        const id = (
          await postJson(`${api.url}/v1/videos`, { prompt: `victim ${i}`, num_inference_steps: 20 })
        ).json.id;
        ids.push(id);
        await waitFor(
          async () => (await getJson(`${api.url}/v1/videos/${id}`)).json.status === 'in_progress',
          10_000,
          'in progress',
        );
        for (const pid of workerPids(api.child.pid!)) process.kill(pid, 'SIGKILL');
        await waitFor(
          async () => (await getJson(`${api.url}/readyz`)).status === 200,
          10_000,
          `ready after kill ${i + 1}`,
        );
      }
      await waitFor(
        async () => {
          const list = (await getJson(`${api.url}/v1/videos?limit=100`)).json;
          return list.data.every((v: any) => v.status !== 'queued' && v.status !== 'in_progress');
        },
        60_000,
        'every job to settle',
      );
      const list = (await getJson(`${api.url}/v1/videos?limit=100`)).json;
      expect(list.data.map((v: any) => [v.status, v.error?.code ?? null])).toEqual(
        ids.map(() => ['completed', null]),
      );
      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      expect(Number(/t2v_worker_restarts_total\{worker="cpu-0"\} (\d+)/.exec(metrics)?.[1])).toBe(KILLS);
    } finally {
      await api.stop();
    }
  }, 180_000);

  it('read-only output directory: the job fails with STORAGE_ERROR, no partial file, liveness stays up', async () => {
    const api = await startApi({});
    const videos = path.join(api.dataDir, 'videos');
    // Root ignores permission bits; the immutable flag stops even root.
    execFileSync('chattr', ['+i', videos]);
    try {
      const created = await postJson(`${api.url}/v1/videos`, { prompt: 'nowhere to write' });
      let video: any;
      await waitFor(
        async () => {
          video = (await getJson(`${api.url}/v1/videos/${created.json.id}`)).json;
          return video.status === 'failed';
        },
        10_000,
        'the job to fail',
      );
      expect(video.error.code).toBe('STORAGE_ERROR');
      expect(fs.readdirSync(videos)).toEqual([]);
      expect((await getJson(`${api.url}/healthz`)).status).toBe(200);
      const ready = await getJson(`${api.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.json.error.storage.status).toBe('down');
    } finally {
      execFileSync('chattr', ['-i', videos]);
    }
    await waitFor(async () => (await getJson(`${api.url}/readyz`)).status === 200, 5000, 'ready again');
    const ok = await postJson(`${api.url}/v1/videos`, { prompt: 'writable again' }, { Prefer: 'wait=20' });
    expect(ok.json.status).toBe('completed');
    await api.stop();
  });

  (canUnshare ? it : it.skip)(
    'full output file system: STORAGE_ERROR, no partial file, the next small job still succeeds',
    async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-full-'));
      const videos = path.join(dataDir, 'videos');
      fs.mkdirSync(videos);
      // A private 192 KiB tmpfs (the big job's MP4 is ~1.1 MB, the small one's ~37 KB) as the output root, inside a mount namespace of the API process only.
      const api = await startApi(
        {},
        {
          dataDir,
          wrap: (argv) => [
            'unshare',
            '-rm',
            'sh',
            '-c',
            `mount -t tmpfs -o size=192k tmpfs "${videos}" && exec "$@"`,
            'sh',
            ...argv,
          ],
        },
      );
      try {
        const big = await postJson(
          `${api.url}/v1/videos`,
          { prompt: 'too big', size: '1280x704', seconds: 10, seed: 1 },
          { Prefer: 'wait=60' },
        );
        expect(big.json.status).toBe('failed');
        expect(big.json.error.code).toBe('STORAGE_ERROR');
        expect((await getJson(`${api.url}/healthz`)).status).toBe(200);
        const small = await postJson(
          `${api.url}/v1/videos`,
          { prompt: 'fits', size: '256x256', seconds: 1, seed: 1 },
          { Prefer: 'wait=30' },
        );
        expect(small.json.status).toBe('completed');
        const list = await (await fetch(`${api.url}/v1/videos/${big.json.id}/content`)).json();
        expect((list as any).error.code).toBe('video_not_ready');
      } finally {
        await api.stop();
      }
    },
  );
});
