import * as fs from 'node:fs';

import { getJson, postJson, startApi, waitFor } from '../support/api-process';

/** Processes below `pid` (children, grandchildren, …) from /proc. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const task of tasks) {
      let text = '';
      try {
        text = fs.readFileSync(`/proc/${p}/task/${task}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of text.split(/\s+/).filter(Boolean).map(Number)) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * A worker group (T2V_PARALLEL=cfg: two gloo ranks on CPU, wan-tiny) behind the real API: the API
 * supervises one worker per group; a rank killed in the middle of a job takes the group down, the
 * supervisor restarts it and the job runs again to completion.
 */
describe('API with a worker group (T2V_PARALLEL=cfg, wan-tiny)', () => {
  it('retries the job on a restarted group when a rank dies mid-job', async () => {
    const api = await startApi(
      {
        T2V_ENGINE: 'wan-tiny',
        T2V_PARALLEL: 'cfg',
        T2V_WORKER_STARTUP_TIMEOUT_S: '300',
        T2V_HEARTBEAT_TIMEOUT_S: '120',
      },
      { timeoutMs: 300_000 },
    );
    try {
      const ready = await getJson(`${api.url}/readyz`);
      expect(ready.json.details.workers.workers).toHaveLength(1);
      const models = await getJson(`${api.url}/v1/models`);
      expect(models.json.data[0].acceleration.parallel).toBe('cfg');
      const ranks = () =>
        descendants(api.child.pid!).filter((p) => cmdline(p).includes('t2v_worker.parallel.rank'));
      expect(ranks()).toHaveLength(1);

      const created = await postJson(`${api.url}/v1/videos`, {
        prompt: 'a dog running on the beach',
        size: '128x128',
        seconds: 1,
        num_inference_steps: 40,
        seed: 5,
      });
      expect(created.status).toBe(200);
      const id = created.json.id as string;
      await waitFor(
        async () => (await getJson(`${api.url}/v1/videos/${id}`)).json.progress >= 5,
        120_000,
        'the job to make progress',
      );
      const [rank1] = ranks();
      process.kill(rank1!, 'SIGKILL');

      await waitFor(
        async () => (await getJson(`${api.url}/v1/videos/${id}`)).json.status === 'completed',
        300_000,
        'the retried job to complete',
      );
      // Rank 0 exits 1 when its rank 1 dies: an ordinary crash, the job requeued with its attempt.
      const logs = api.logs.join('\n');
      expect(logs).toMatch(/worker exited: exited \(code 1, signal null\)/);
      expect(logs).toMatch(new RegExp(`requeued ${id} \\(worker crashed: exited \\(code 1`));
      // A new group serves: a new rank 1, and the video is there.
      expect(ranks()).toHaveLength(1);
      expect(ranks()[0]).not.toBe(rank1);
      const content = await fetch(`${api.url}/v1/videos/${id}/content`);
      expect(content.status).toBe(200);
      expect((await content.arrayBuffer()).byteLength).toBeGreaterThan(0);
    } finally {
      expect(await api.stop()).toBe(0);
    }
  }, 600_000);
});
