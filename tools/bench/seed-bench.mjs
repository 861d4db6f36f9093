// The result cache: time to a completed video for a fresh seeded request vs the identical request
// served from the cache, in the same run against the same API (synthetic engine).
import { fileURLToPath } from 'node:url';

import { startBuiltApi } from '../scripts/api-process.mjs';

export async function runSeedBench({ rounds = 10 } = {}) {
  const api = await startBuiltApi();
  const url = api.url;
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
    api.stop();
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
