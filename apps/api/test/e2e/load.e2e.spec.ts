import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { getJson, startApi } from '../support/api-process';
import { ffprobe } from '../support/ffprobe';

const run = promisify(execFile);

/**
 * The original service's scenario, bounded and on loopback: ab sends 200 GET /generate with 50 in
 * flight against the synthetic engine. Every request must succeed with its own valid MP4.
 */
describe('GET /generate under concurrent load (ab -n 200 -c 50)', () => {
  it('answers every request with a distinct, valid video', async () => {
    const api = await startApi({ T2V_CPU_WORKERS: '2', T2V_SYNTHETIC_STEP_MS: '0', T2V_MAX_QUEUE: '200' });
    try {
      const { stdout } = await run(
        'ab',
        ['-n', '200', '-c', '50', '-s', '120', '-q', `${api.url}/generate?prompt=a%20dog%20running`],
        { timeout: 240_000, maxBuffer: 1 << 20 },
      );
      const failed = Number(/Failed requests:\s+(\d+)/.exec(stdout)?.[1]);
      const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? '0');
      const complete = Number(/Complete requests:\s+(\d+)/.exec(stdout)?.[1]);
      const rps = /Requests per second:\s+([\d.]+)/.exec(stdout)?.[1];
      process.stdout.write(`ab: ${complete} complete, ${failed} failed, ${non2xx} non-2xx, ${rps} req/s\n`);
      expect({ complete, failed, non2xx }).toEqual({ complete: 200, failed: 0, non2xx: 0 });

      const files = fs.readdirSync(path.join(api.dataDir, 'videos')).filter((f) => f.endsWith('.mp4'));
      expect(files).toHaveLength(200);
      const list = (await getJson(`${api.url}/v1/videos?limit=100`)).json;
      expect(list.data.every((v: any) => v.status === 'completed')).toBe(true);
      // Distinct outputs (random seeds), each a valid H.264 MP4 with every frame.
      const sizes = new Set<string>();
      for (const f of files) {
        const probe = ffprobe(path.join(api.dataDir, 'videos', f));
        expect(probe).toMatchObject({ codec: 'h264', width: 320, height: 192, frames: 25 });
        sizes.add(
          fs
            .readFileSync(path.join(api.dataDir, 'videos', f))
            .subarray(-4096)
            .toString('base64'),
        );
      }
      expect(sizes.size).toBe(200);
      expect(fs.readdirSync(path.join(api.dataDir, 'videos')).filter((f) => f.includes('.tmp'))).toEqual([]);
    } finally {
      await api.stop();
      fs.rmSync(api.dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
