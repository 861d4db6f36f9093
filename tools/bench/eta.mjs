// Honest ETAs: how far the estimates a create answers with (`estimated_start_at`,
// `estimated_completion_at`) land from what happens, on the synthetic engine with a mixed
// workload (sizes, lengths and step counts mixed, arrivals spread out) on two workers. A warm-up
// runs one job of each shape first, so the estimator has learned each; the measured jobs then
// arrive while the queue is busy. Baseline in the same run: a naive estimate from the same answer
// (queue position × the warm-up's mean job time ÷ workers). Loopback only, bounded.
import * as path from 'node:path';

import { startBuiltApi } from '../scripts/api-process.mjs';

/** The shapes of the mix: [size, seconds]; step counts vary per job. */
const SHAPES = [
  ['320x192', 1],
  ['640x352', 1],
  ['320x192', 2],
];
const STEP_MS = 80;
const WORKERS = 2;

/** A fixed pseudo-random sequence (the same workload on every run). */
function lcg(seed) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x, d = 3) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

async function create(url, body) {
  const res = await fetch(`${url}/v1/videos`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`create answered ${res.status}: ${JSON.stringify(json)}`);
  return { at: Date.now(), video: json };
}

/** Polls until every job is completed; returns when each was first seen started and completed (client ms). */
async function follow(url, ids, timeoutMs) {
  const seen = new Map(ids.map((id) => [id, { started: null, completed: null }]));
  const deadline = Date.now() + timeoutMs;
  while ([...seen.values()].some((s) => s.completed === null)) {
    if (Date.now() > deadline) throw new Error('the jobs did not complete in time');
    const res = await fetch(`${url}/v1/videos?limit=100`);
    const now = Date.now();
    for (const v of (await res.json()).data) {
      const s = seen.get(v.id);
      if (!s) continue;
      if (s.started === null && v.status !== 'queued') s.started = now;
      if (s.completed === null && v.status === 'completed') s.completed = now;
      if (v.status === 'failed' || v.status === 'cancelled') throw new Error(`${v.id} ${v.status}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return seen;
}

/**
 * Runs the workload; `jobs` measured jobs after one warm-up job per shape. Errors are relative to
 * the time from the create's answer to the event estimated (absolute seconds reported too).
 */
export async function runEtaBench({ jobs = 30 } = {}) {
  const api = await startBuiltApi({
    T2V_SYNTHETIC_STEP_MS: String(STEP_MS),
    T2V_CPU_WORKERS: String(WORKERS),
  });
  try {
    const rand = lcg(26);
    const body = (i) => {
      const [size, seconds] = SHAPES[i % SHAPES.length];
      return { prompt: `eta ${i}`, size, seconds, num_inference_steps: 6 + Math.floor(rand() * 20) };
    };
    // Warm-up: one job of each shape, one at a time, nothing else running.
    let firstEstimates = 0;
    const warm = [];
    for (let i = 0; i < SHAPES.length; i++) {
      const c = await create(api.url, body(i));
      if (c.video.estimated_completion_at !== undefined) firstEstimates++;
      const t = await follow(api.url, [c.video.id], 60_000);
      warm.push((t.get(c.video.id).completed - c.at) / 1000);
    }
    const meanJobS = warm.reduce((a, b) => a + b, 0) / warm.length;
    // Measured: arrivals 0–700 ms apart, so a queue builds up behind two workers.
    const made = [];
    for (let i = 0; i < jobs; i++) {
      made.push(await create(api.url, body(SHAPES.length + i)));
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 700)));
    }
    const seen = await follow(
      api.url,
      made.map((m) => m.video.id),
      10 * 60_000,
    );
    const rel = { completion: [], start: [], naive: [] };
    const abs = { completion: [], start: [] };
    let withEstimate = 0;
    for (const { at, video } of made) {
      const s = seen.get(video.id);
      const naiveMs = at + (((video.queue_position ?? 0) + 1) * (meanJobS * 1000)) / WORKERS;
      rel.naive.push(Math.abs(naiveMs - s.completed) / (s.completed - at));
      if (video.estimated_completion_at === undefined) continue;
      withEstimate++;
      const done = video.estimated_completion_at * 1000;
      rel.completion.push(Math.abs(done - s.completed) / (s.completed - at));
      abs.completion.push(Math.abs(done - s.completed) / 1000);
      const start = video.estimated_start_at * 1000;
      // A start within the second the create answered is "now": measured against a full second.
      rel.start.push(Math.abs(start - s.started) / Math.max(1000, s.started - at));
      abs.start.push(Math.abs(start - s.started) / 1000);
    }
    const pct = (x) => round(x === null ? null : x * 100, 1);
    return {
      workload: `${jobs} jobs on ${WORKERS} synthetic workers at ${STEP_MS} ms/step: ${SHAPES.map(([s, sec]) => `${s} ${sec} s`).join(', ')}, 6–25 steps, arrivals 0–0.7 s apart`,
      warmup_first_estimates: `${firstEstimates}/${SHAPES.length}`,
      with_estimate: `${withEstimate}/${jobs}`,
      completion: {
        median_pct: pct(quantile(rel.completion, 0.5)),
        p90_pct: pct(quantile(rel.completion, 0.9)),
        median_s: round(quantile(abs.completion, 0.5), 2),
        p90_s: round(quantile(abs.completion, 0.9), 2),
      },
      start: {
        median_pct: pct(quantile(rel.start, 0.5)),
        p90_pct: pct(quantile(rel.start, 0.9)),
        median_s: round(quantile(abs.start, 0.5), 2),
        p90_s: round(quantile(abs.start, 0.9), 2),
      },
      naive_completion: { median_pct: pct(quantile(rel.naive, 0.5)), p90_pct: pct(quantile(rel.naive, 0.9)) },
      horizon_median_s: round(
        quantile(
          made.map((m) => (seen.get(m.video.id).completed - m.at) / 1000),
          0.5,
        ),
        1,
      ),
    };
  } finally {
    api.stop();
  }
}

/** The docs/benchmarks.md section. */
export function etaSection(r) {
  return `## Honest ETAs: estimates at creation against what happened

\`tools/bench/eta.mjs\`: ${r.workload}. One warm-up job of each shape runs first, one at a time (the
estimator learns online: the very first create has no estimate, since nothing has run; a later
shape's first create gets one scaled from the model's other shapes by pixels × frames;
${r.warmup_first_estimates} warm-up creates had one). Then each measured create's
\`estimated_start_at\` / \`estimated_completion_at\` (whole unix seconds) is compared with when a
client polling every 50 ms saw the job start and complete. Error = |estimate − actual| ÷ (actual −
the create's answer); the median time from create to completion was ${r.horizon_median_s} s.
Baseline in the same run: a naive estimate from the same answer, (queue position + 1) × the
warm-up's mean job time ÷ workers.

| estimate | jobs with one | median error | p90 error | median abs s | p90 abs s |
|---|---|---|---|---|---|
| \`estimated_completion_at\` | ${r.with_estimate} | **${r.completion.median_pct} %** | ${r.completion.p90_pct} % | ${r.completion.median_s} | ${r.completion.p90_s} |
| \`estimated_start_at\` | ${r.with_estimate} | ${r.start.median_pct} % | ${r.start.p90_pct} % | ${r.start.median_s} | ${r.start.p90_s} |
| naive completion (baseline) | ${r.with_estimate.split('/')[1]}/${r.with_estimate.split('/')[1]} | ${r.naive_completion.median_pct} % | ${r.naive_completion.p90_pct} % | — | — |
`;
}

// `node tools/bench/eta.mjs [--markdown] [--jobs N]`: this benchmark alone (build the API first).
if (path.resolve(process.argv[1] ?? '') === new URL(import.meta.url).pathname) {
  const i = process.argv.indexOf('--jobs');
  const r = await runEtaBench({ jobs: i > 0 ? Number(process.argv[i + 1]) : 30 });
  console.log(process.argv.includes('--markdown') ? etaSection(r) : JSON.stringify(r, null, 2));
}
