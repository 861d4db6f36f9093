import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import autocannon from 'autocannon';

import { getJson, postJson, startApi } from '../support/api-process';
import { ffprobe } from '../support/ffprobe';

const run = promisify(execFile);

/** Resident memory of a process in bytes, from /proc. */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Samples a process's RSS every `ms` until stopped. */
function sampleRss(pid: number, ms = 100) {
  const samples: number[] = [];
  const timer = setInterval(() => {
    try {
      samples.push(rss(pid));
    } catch {
      /* exited */
    }
  }, ms);
  return { samples, stop: () => clearInterval(timer) };
}

const MB = 1024 * 1024;

/**
 * The original service's scenario, bounded and on loopback: ab sends 1000 GET /generate with 50 in
 * flight against the synthetic engine. Every request must succeed with its own valid MP4.
 */
describe('load (loopback, bounded)', () => {
  it('ab -n 1000 -c 50 GET /generate: 0 failures, 1000 distinct valid MP4s', async () => {
    const api = await startApi({ T2V_CPU_WORKERS: '2', T2V_SYNTHETIC_STEP_MS: '0', T2V_MAX_QUEUE: '1000' });
    const memory = sampleRss(api.child.pid!);
    try {
      const { stdout } = await run(
        'ab',
        ['-n', '1000', '-c', '50', '-s', '300', '-q', `${api.url}/generate?prompt=a%20dog%20running`],
        { timeout: 600_000, maxBuffer: 1 << 20 },
      );
      memory.stop();
      const failed = Number(/Failed requests:\s+(\d+)/.exec(stdout)?.[1]);
      const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? '0');
      const complete = Number(/Complete requests:\s+(\d+)/.exec(stdout)?.[1]);
      const rps = /Requests per second:\s+([\d.]+)/.exec(stdout)?.[1];
      const peak = Math.max(...memory.samples);
      process.stdout.write(
        `ab: ${complete} complete, ${failed} failed, ${non2xx} non-2xx, ${rps} req/s; API peak RSS ${(peak / MB).toFixed(1)} MB\n`,
      );
      expect({ complete, failed, non2xx }).toEqual({ complete: 1000, failed: 0, non2xx: 0 });

      const videos = path.join(api.dataDir, 'videos');
      const files = fs.readdirSync(videos).filter((f) => f.endsWith('.mp4'));
      expect(files).toHaveLength(1000);
      expect(fs.readdirSync(videos).filter((f) => f.includes('.tmp'))).toEqual([]);
      const page = (await getJson(`${api.url}/v1/videos?limit=100`)).json;
      expect(page.data.every((v: any) => v.status === 'completed')).toBe(true);
      // Distinct outputs (random seeds): the tail of each file differs.
      const tails = new Set(
        files.map((f) => fs.readFileSync(path.join(videos, f)).subarray(-4096).toString('base64')),
      );
      expect(tails.size).toBe(1000);
      // Every output is a valid H.264 MP4 with every frame (a sample of 100 decoded by ffprobe).
      for (const f of files.filter((_, i) => i % 10 === 0)) {
        expect(ffprobe(path.join(videos, f))).toMatchObject({
          codec: 'h264',
          width: 320,
          height: 192,
          frames: 25,
        });
      }
    } finally {
      memory.stop();
      await api.stop();
      fs.rmSync(api.dataDir, { recursive: true, force: true });
    }
  }, 900_000);

  it('memory stays bounded over 20,000 create and retrieve requests (autocannon, 50 connections)', async () => {
    // Workers take jobs slowly: the queue grows, the HTTP path and the store are what is measured.
    const api = await startApi({
      T2V_SYNTHETIC_STEP_MS: '60000',
      T2V_MAX_QUEUE: '1000000',
      T2V_SHUTDOWN_GRACE_S: '1',
    });
    const seed = await postJson(`${api.url}/v1/videos`, { prompt: 'retrieved' });
    const memory = sampleRss(api.child.pid!, 50);
    try {
      const result = await new Promise<autocannon.Result>((resolve, reject) =>
        autocannon(
          {
            url: api.url,
            connections: 50,
            amount: 20_000,
            requests: [
              {
                method: 'POST',
                path: '/v1/videos',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ prompt: 'a cat dancing in the rain' }),
              },
              { method: 'GET', path: `/v1/videos/${seed.json.id}` },
            ],
          },
          (err, r) => (err ? reject(err) : resolve(r)),
        ),
      );
      memory.stop();
      expect(result.errors).toBe(0);
      expect(result.non2xx).toBe(0);
      expect(result.requests.sent).toBeGreaterThanOrEqual(20_000);
      const second = memory.samples.slice(Math.floor(memory.samples.length / 2));
      const peak = Math.max(...second);
      const mean = second.reduce((a, b) => a + b, 0) / second.length;
      process.stdout.write(
        `autocannon: ${result.requests.sent} requests, ${Math.round(result.requests.average)} req/s; ` +
          `second half RSS peak ${(peak / MB).toFixed(1)} MB, mean ${(mean / MB).toFixed(1)} MB\n`,
      );
      expect(peak - mean).toBeLessThan(50 * MB);
    } finally {
      memory.stop();
      await api.stop();
      fs.rmSync(api.dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
