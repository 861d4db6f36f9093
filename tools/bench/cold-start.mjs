// A cold start of the GPU tier, with processes and no Kubernetes: a job is created on an API-tier
// process (T2V_ROLE=api) while no GPU process runs; a GPU process (T2V_ROLE=gpu) is started at
// once; measured is the time from the create's answer to the job's first denoising step, as a
// client watching its events sees it. Baseline in the same run: the same job created while a GPU
// process is already up and idle. One Redis, loopback only, bounded runs.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ROOT } from '../scripts/prereqs.mjs';
import { startBuiltApi } from '../scripts/api-process.mjs';
import { redisNode } from './redis-durability-bench.mjs';

const MAIN = path.join(ROOT, 'dist/apps/api/main.js');

/** A GPU-tier process, started now; resolves its handle at once (it loads in the background). */
function startGpu(env) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-bench-gpu-'));
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      HOME: os.tmpdir(),
      PORT: '0',
      HOST: '127.0.0.1',
      T2V_DATA_DIR: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  return {
    logs: () => out,
    url: () => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      return m ? `http://127.0.0.1:${m[1]}` : null;
    },
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the time (ms) the job's first `video.progress` with progress > 0 arrives. */
async function firstStep(api, id, timeoutMs) {
  const res = await fetch(`${api}/v1/videos/${id}/events`, { signal: AbortSignal.timeout(timeoutMs) });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let reason = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the events of ${id} ended before a step`);
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: (.*)$/m.exec(message)?.[1];
      if (!data) continue;
      const video = JSON.parse(data);
      if (video.status === 'queued') reason ??= video.queue_reason;
      if (video.status === 'in_progress' && video.progress > 0) {
        const at = performance.now();
        await reader.cancel();
        return { at, reason };
      }
      if (['completed', 'failed', 'cancelled'].includes(video.status))
        throw new Error(`${id} ended ${video.status} before a step was seen`);
    }
  }
}

async function create(api, body) {
  const res = await fetch(`${api}/v1/videos`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const video = await res.json();
  if (res.status !== 200) throw new Error(`create: ${res.status} ${JSON.stringify(video)}`);
  return { video, at: performance.now() };
}

async function gpuReadySeconds(gpu) {
  const text = await (await fetch(`${gpu.url()}/metrics`)).text();
  return Number(/^t2v_gpu_ready_seconds_sum (\S+)$/m.exec(text)?.[1]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round2 = (x) => Math.round(x * 100) / 100;

/**
 * `engine`: synthetic or wan-tiny; `runs` cold starts (each with a fresh GPU process) and as many
 * warm creates. Returns seconds.
 */
export async function runColdStartBench({ engine, runs, body }) {
  const redis = await redisNode(['--appendonly', 'no']);
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-bench-cold-'));
  const shared = {
    T2V_ENGINE: engine,
    T2V_QUEUE: 'redis',
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    T2V_STORAGE_DIR: storage,
    T2V_SHUTDOWN_GRACE_S: '1',
  };
  const api = await startBuiltApi({ ...shared, T2V_ROLE: 'api' });
  const cold = [];
  const warm = [];
  const ready = [];
  try {
    for (let i = 0; i < runs; i++) {
      const { video, at: createdAt } = await create(api.url, { ...body, prompt: `cold start ${i}` });
      const gpu = startGpu({ ...shared, T2V_ROLE: 'gpu' });
      try {
        const step = await firstStep(api.url, video.id, 180_000);
        if (video.queue_reason !== 'gpu_capacity' || step.reason !== 'gpu_capacity')
          throw new Error(`a cold create did not say it waits for GPU capacity: ${JSON.stringify(video)}`);
        cold.push((step.at - createdAt) / 1000);
        for (let t = 0; !gpu.url() && t < 100; t++) await new Promise((r) => setTimeout(r, 50));
        ready.push(await gpuReadySeconds(gpu));
        // The same job on the GPU process now up and idle: the warm baseline.
        await new Promise((r) => setTimeout(r, 1000));
        const again = await create(api.url, { ...body, prompt: `warm ${i}` });
        warm.push(((await firstStep(api.url, again.video.id, 60_000)).at - again.at) / 1000);
      } finally {
        await gpu.stop();
      }
    }
  } finally {
    api.stop();
    redis.stop();
    fs.rmSync(storage, { recursive: true, force: true });
  }
  return {
    engine,
    runs,
    job: `${body.size}, ${body.seconds} s, ${body.num_inference_steps} steps`,
    cold_median_s: round2(median(cold)),
    cold_s: cold.map(round2),
    gpu_start_to_ready_median_s: round2(median(ready)),
    warm_median_s: round2(median(warm)),
    ratio: round2(median(cold) / median(warm)),
  };
}

export function coldStartSection(results) {
  const rows = results
    .map(
      (r) =>
        `| ${r.engine} | ${r.job} | ${r.runs} | **${r.cold_median_s}** (${r.cold_s.join(', ')}) | ${r.gpu_start_to_ready_median_s} | ${r.warm_median_s} | ${r.ratio}× |`,
    )
    .join('\n');
  return `## Cold start: a job created with no GPU process, until its first step

\`tools/bench/cold-start.mjs\`: an API-tier process (\`T2V_ROLE=api\`) and Redis; a job is created
while no GPU process runs (it answers \`queue_reason: "gpu_capacity"\`), a GPU-tier process
(\`T2V_ROLE=gpu\`) is started at once, and the time from the create's answer to the job's first
denoising step is taken from the job's event stream on the API tier. Each run starts a fresh GPU
process. Baseline in the same run: the same job created while that GPU process is up and idle.
"start to ready" is the GPU process's own \`t2v_gpu_ready_seconds\` (process start to its worker
ready). On a cluster a cold start adds what processes do not have: node provisioning and the
image pull before the process starts.

| engine | job | runs | create → first step, median s (each run) | GPU process start → ready, median s | warm create → first step, median s | cold / warm |
|---|---|---|---|---|---|---|
${rows}
`;
}

/** What `npm run bench` measures: engine, job, cold starts (each a fresh GPU process). */
export const COLD_START_JOBS = [
  ['synthetic', { size: '320x192', seconds: 1, num_inference_steps: 4 }, 5],
  ['wan-tiny', { size: '128x128', seconds: 1, num_inference_steps: 4 }, 3],
];

// `node tools/bench/cold-start.mjs [--markdown]`: this benchmark alone (build the API first).
if (process.argv[1] === new URL(import.meta.url).pathname) {
  const results = [];
  for (const [engine, body, runs] of COLD_START_JOBS) {
    results.push(await runColdStartBench({ engine, body, runs }));
    console.error(JSON.stringify(results.at(-1)));
  }
  console.log(
    process.argv.includes('--markdown') ? coldStartSection(results) : JSON.stringify(results, null, 2),
  );
}
