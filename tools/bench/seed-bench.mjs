// The result cache: time to a completed video for a fresh seeded request vs the identical request
// served from the cache, in the same run against the same API (synthetic engine).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function runSeedBench({ rounds = 10 } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-seed-'));
  const api = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api/main.js')], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', T2V_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    api.once('exit', (code) => reject(new Error(`API exited ${code}`)));
    readline.createInterface({ input: api.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
  });
  for (let i = 0; i < 200 && (await fetch(`${url}/readyz`)).status !== 200; i++)
    await new Promise((r) => setTimeout(r, 50));
  const timed = async (body) => {
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'wait=60' },
      body: JSON.stringify(body),
    });
    const video = await res.json();
    if (video.status !== 'completed') throw new Error(`not completed: ${JSON.stringify(video)}`);
    return { ms: performance.now() - t0, cached: video.cached };
  };
  const fresh = [];
  const cached = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const body = { prompt: `seeded ${i}`, seed: 1000 + i, size: '832x480', seconds: 2 };
      fresh.push(await timed(body));
      cached.push(await timed(body));
    }
  } finally {
    api.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if (!cached.every((c) => c.cached) || fresh.some((f) => f.cached)) throw new Error('cache flags are wrong');
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const f = median(fresh.map((x) => x.ms));
  const c = median(cached.map((x) => x.ms));
  return {
    rounds,
    job: '832x480, 2 s (49 frames), 8 steps, synthetic',
    fresh_median_ms: +f.toFixed(1),
    cached_median_ms: +c.toFixed(1),
    speedup: +(f / c).toFixed(1),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await runSeedBench({ rounds: Number(process.argv[2] ?? 10) }), null, 2));
}
