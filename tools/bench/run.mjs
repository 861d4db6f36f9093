// `npm run bench`: every benchmark in one run, each against a baseline measured in the same run,
// written to docs/benchmarks.md. `--short` runs a quick pass (CI smoke) and writes nothing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { COLD_START_JOBS, coldStartSection, runColdStartBench } from './cold-start.mjs';
import { etaSection, runEtaBench } from './eta.mjs';
import { runHttpBench } from './http-bench.mjs';
import { runImageFitBench } from './image-fit.mjs';
import { durabilitySection, runRedisDurabilityBench } from './redis-durability-bench.mjs';
import { previewSection } from './preview-cost.mjs';
import { runSeedBench } from './seed-bench.mjs';
import { runStorageDownloadBench, storageDownloadSection } from './storage-download.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const short = process.argv.includes('--short');

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
const date = new Date().toISOString().slice(0, 10);

console.error('[bench] HTTP create/retrieve vs bare node:http');
const http = await runHttpBench({ seconds: short ? 2 : 10 });
console.error(JSON.stringify(http));
console.error('[bench] redis durable acknowledgement: WAIT / AOF always vs primary only');
const durability = await runRedisDurabilityBench({ seconds: short ? 1 : 5 });
console.error(JSON.stringify(durability));
console.error('[bench] result cache');
const seed = await runSeedBench({ rounds: short ? 2 : 10 });
console.error(JSON.stringify(seed));
console.error('[bench] input_reference: probe and fit a 12 MP JPEG');
const fit = await runImageFitBench({ rounds: short ? 2 : 11 });
console.error(JSON.stringify(fit));

let latency = null;
const python = path.join(ROOT, 'apps/worker/.venv/bin/python');
if (fs.existsSync(python)) {
  console.error('[bench] wan-tiny: warm worker vs a fresh process per request');
  const r = spawnSync(
    python,
    [
      path.join(ROOT, 'apps/worker/scripts/latency.py'),
      '--jobs',
      short ? '3' : '20',
      '--fresh',
      short ? '1' : '5',
    ],
    {
      encoding: 'utf8',
      timeout: 15 * 60_000,
    },
  );
  if (r.status !== 0) throw new Error(`latency.py failed: ${r.stderr}`);
  latency = JSON.parse(r.stdout);
  console.error(JSON.stringify(latency));
} else {
  throw new Error('the worker venv is missing: run `npx nx run worker:setup` first');
}

console.error('[bench] wan-tiny: step cache on/off, guidance 5 vs 1');
const accelRun = spawnSync(
  python,
  [path.join(ROOT, 'apps/worker/scripts/accel_bench.py'), '--jobs', short ? '1' : '5'],
  { encoding: 'utf8', timeout: 15 * 60_000 },
);
if (accelRun.status !== 0) throw new Error(`accel_bench.py failed: ${accelRun.stderr}`);
const accel = JSON.parse(accelRun.stdout);
console.error(JSON.stringify(accel));
if (
  accel.cache_on.passes >= accel.cache_on.planned_passes ||
  accel.guidance_1.passes * 2 !== accel.guidance_5.passes
) {
  throw new Error(`wan-tiny pass counts are not what the options promise: ${JSON.stringify(accel)}`);
}

console.error('[bench] wan-tiny: 2 gloo ranks vs 1 (cfg, ulysses:2)');
const parallelRun = spawnSync(
  python,
  [path.join(ROOT, 'apps/worker/scripts/parallel_bench.py'), '--jobs', short ? '1' : '5'],
  { encoding: 'utf8', timeout: 15 * 60_000 },
);
if (parallelRun.status !== 0) throw new Error(`parallel_bench.py failed: ${parallelRun.stderr}`);
const parallel = JSON.parse(parallelRun.stdout);
console.error(JSON.stringify(parallel));
for (const spec of ['cfg', 'ulysses:2']) {
  // Same tolerance as apps/worker/tests/test_parallel.py: 40× below one 8-bit video level.
  if (!(parallel[spec].max_abs_diff <= 1e-4) || parallel[spec].passes !== accel.cache_off.planned_passes)
    throw new Error(`${spec} on 2 ranks does not reproduce one rank: ${JSON.stringify(parallel[spec])}`);
}

console.error('[bench] live preview at the full latent shape vs a TI2V-5B step');
const previewRun = spawnSync(
  python,
  [path.join(ROOT, 'apps/worker/scripts/preview_bench.py'), '--rounds', short ? '2' : '20'],
  { encoding: 'utf8', timeout: 15 * 60_000 },
);
if (previewRun.status !== 0) throw new Error(`preview_bench.py failed: ${previewRun.stderr}`);
const preview = JSON.parse(previewRun.stdout);
console.error(JSON.stringify(preview));
// The previews' budget (docs/waiting.md): at most 2 % of a step's time.
if (!(preview.preview_share_of_step <= 0.02))
  throw new Error(`a preview costs more than 2 % of a step: ${JSON.stringify(preview)}`);
// The full-size VAE on a CPU takes minutes per variant: not part of the smoke run (the worker's
// tests/test_streaming.py checks the streamed path's output there).
let decodeSection = '';
if (!short) {
  console.error('[bench] after the last step: full-size Wan2.2 VAE decode → MP4, whole vs streamed');
  const decodeRun = spawnSync(
    python,
    [path.join(ROOT, 'apps/worker/scripts/decode_bench.py'), '--markdown'],
    {
      encoding: 'utf8',
      timeout: 60 * 60_000,
    },
  );
  if (decodeRun.status !== 0) throw new Error(`decode_bench.py failed: ${decodeRun.stderr}`);
  decodeSection = decodeRun.stdout.trim() + '\n';
}

console.error('[bench] cold start: a job created with no GPU process, until its first step');
const coldStart = [];
for (const [engine, body, runs] of COLD_START_JOBS) {
  coldStart.push(await runColdStartBench({ engine, body, runs: short ? 1 : runs }));
  console.error(JSON.stringify(coldStart.at(-1)));
}

console.error('[bench] ETAs: estimates at creation against what happened (synthetic, mixed workload)');
const eta = await runEtaBench({ jobs: short ? 6 : 30 });
console.error(JSON.stringify(eta));
console.error('[bench] downloads from a bucket: redirect vs proxy vs the bucket directly');
const storageDownload = await runStorageDownloadBench(short ? { mib: 8, rounds: 2 } : {});
console.error(JSON.stringify(storageDownload));

if (short) {
  if (eta.with_estimate.startsWith('0/'))
    throw new Error(`no create had an estimate: ${JSON.stringify(eta)}`);
  for (const [name, v] of Object.entries({
    create: http.t2v.create.errors,
    retrieve: http.t2v.retrieve.errors,
    'redis durability': durability.primary.errors + durability.replicas.errors + durability.fsync.errors,
  })) {
    if (v !== 0) throw new Error(`${name} had ${v} errors`);
  }
  console.log('bench smoke: 7 benchmarks ran, 0 errors');
  process.exit(0);
}

// Sections measured by other commands are kept as they are, between their markers: the GPU
// matrix (tools/bench/gpu/bench.py --write-docs on a GPU machine), host memory while loading
// (apps/worker/scripts/load_memory.py --write-docs: a 34 GB checkpoint), logging (the API before
// and after, ADR 0081) and the images (podman builds, ADR 0012).
const previous = fs.readFileSync(path.join(ROOT, 'docs/benchmarks.md'), 'utf8');
const kept = (name) => {
  const start = previous.indexOf(`<!-- ${name}:start -->`);
  const end = previous.indexOf(`<!-- ${name}:end -->`);
  if (start < 0 || end < start) throw new Error(`docs/benchmarks.md lost its ${name} section markers`);
  return previous.slice(start, end + `<!-- ${name}:end -->`.length) + '\n';
};
const gpuSection = kept('gpu-bench');
const memorySection = kept('load-memory');

const row = (name, r) => `| ${name} | ${r.rps} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} |`;
const doc = `# Benchmarks

Measured by \`npm run bench\` (\`tools/bench/run.mjs\`) on ${date}. Machine: ${machine}.
Every figure is compared with a baseline measured in the same run: these machines are shared and
noisy, so ratios travel better than absolute numbers. Loopback only; load from autocannon in the
same machine (it competes for the same 2 cores).

## HTTP: create and retrieve at 50 connections (10 s each)

Three servers, each in its own process, measured one after the other in the same run:

- **bare node:http** (\`tools/bench/bare-server.mjs\`): parses the JSON, checks the prompt, builds the
  video object and keeps it in a Map. The baseline of the goals.
- **framework floor** (\`tools/bench/nest-floor.mjs\`): the same in-memory work in one NestJS
  controller on the Fastify adapter, as the API runs, with nothing else. What the framework costs.
- **t2v**: the API (synthetic engine; embedded SQLite queue with fsync on every commit; key guard,
  security headers, request id, duration histogram and a JSON access-log line per request).

| server, operation | requests/s | p50 ms | p99 ms | errors |
|---|---|---|---|---|
${row('bare node:http, create', http.baseline.create)}
${row('framework floor, create', http.framework.create)}
${row('t2v, create', http.t2v.create)}
${row('bare node:http, retrieve', http.baseline.retrieve)}
${row('framework floor, retrieve', http.framework.retrieve)}
${row('t2v, retrieve', http.t2v.retrieve)}

| ratio | create | retrieve |
|---|---|---|
| t2v / bare node:http | **${http.ratio.create}×** | **${http.ratio.retrieve}×** |
| framework floor / bare node:http | ${http.frameworkRatio.create}× | ${http.frameworkRatio.retrieve}× |
| t2v / framework floor | ${http.ofFramework.create}× | ${http.ofFramework.retrieve}× |

Why the API runs on Fastify and how far these are from the goals (0.5× create, 0.6× retrieve):
[ADR 0024](adr/0024-fastify-adapter.md).

${kept('logging')}
${durabilitySection(durability)}

## Result cache: identical seeded request

${seed.rounds} rounds of a fresh seeded create waited with \`Prefer: wait=60\`, then the identical
request (served from the cache: a new video id, outputs hard-linked). Job: ${seed.job}.

| request | median ms to a completed video |
|---|---|
| fresh | ${seed.fresh_median_ms} |
| cached | ${seed.cached_median_ms} |

The cache answers **${seed.speedup}×** faster.

## Image input: check and fit an \`input_reference\`

What \`POST /v1/videos\` does with an uploaded image before it answers (\`tools/bench/image-fit.mjs\`,
sharp ${fit.sharp}, ${fit.threads} libvips thread(s)): read the header, decode, orient, resize to the
video size, encode the PNG and hash it. Input: ${fit.input}. Baseline: decoding the same JPEG to raw
pixels and nothing else, ${fit.baseline_decode_median_ms} ms median over ${fit.rounds} rounds.

| target | median ms | / plain decode |
|---|---|---|
${Object.entries(fit.probe_and_fit)
  .map(([name, r]) => `| ${name} | ${r.median_ms} | ${r.vs_decode}× |`)
  .join('\n')}

## wan-tiny: warm worker vs a process per request

The real diffusers WanPipeline with tiny random weights on CPU (\`apps/worker/scripts/latency.py\`).
Job: ${latency.job}.

| mode | median s per job |
|---|---|
| warm worker (model loaded once, ${latency.warm_jobs} jobs) | ${latency.warm_median_s} |
| fresh \`python\` process per request (${latency.fresh_processes} runs) | ${latency.fresh_median_s} |

The warm worker is **${latency.speedup}×** faster per job; worker start to ready took
${latency.worker_start_to_ready_s} s.

## wan-tiny: step cache and guidance

Transformer passes and seconds per job (\`apps/worker/scripts/accel_bench.py\`, warm engines, the
first job not counted). Job: ${accel.job}. The tiny transformer is a small part of a wan-tiny job
(text encoder, VAE decode and Python overhead dominate), so the passes show what each option
removes and the seconds only bound its overhead; on the full-size model a pass is ≈ 520 TFLOP
and dominates (see the GPU section).

| configuration | passes / planned | median s per job |
|---|---|---|
| guidance 5, no cache | ${accel.cache_off.passes} / ${accel.cache_off.planned_passes} | ${accel.cache_off.median_s} |
| guidance 5, \`${accel.cache}\` | ${accel.cache_on.passes} / ${accel.cache_on.planned_passes} | ${accel.cache_on.median_s} |
| guidance 1 (no unconditional pass) | ${accel.guidance_1.passes} / ${accel.guidance_1.planned_passes} | ${accel.guidance_1.median_s} |

Cached / uncached: **${accel.cache_speedup}×** speed; guidance 1 / guidance 5: **${accel.guidance_1_speedup}×**.

## wan-tiny: one job on 2 gloo ranks vs 1 rank

Correctness and overhead, not speed (\`apps/worker/scripts/parallel_bench.py\`, \`T2V_PARALLEL\`).
Job: ${parallel.job}; ${parallel.jobs} warm jobs each after one not counted, one CPU thread per
rank, gloo on the loopback. The frame difference is rank 0's frames against the one-rank frames
(float32 in [0, 1]; one 8-bit video level is 3.9e-3). On CPU the group machinery (a control
all-reduce per step, the CFG exchange, the Ulysses all-to-all, processes sharing 2 cores) is what
the ratio shows; on GPUs a pass of the full-size model dominates and the split divides it.

| configuration | median s per job | / 1 rank | max abs frame difference | passes |
|---|---|---|---|---|
| 1 rank | ${parallel.one_rank.median_s} | 1 | — | ${accel.cache_off.planned_passes} |
| \`cfg\`, 2 ranks | ${parallel.cfg.median_s} | **${parallel.cfg.overhead}×** | ${parallel.cfg.max_abs_diff} | ${parallel.cfg.passes} |
| \`ulysses:2\`, 2 ranks | ${parallel['ulysses:2'].median_s} | **${parallel['ulysses:2'].overhead}×** | ${parallel['ulysses:2'].max_abs_diff} | ${parallel['ulysses:2'].passes} |

${decodeSection}
${kept('images')}
${previewSection(preview)}

${coldStartSection(coldStart)}
${etaSection(eta)}
${storageDownloadSection(storageDownload)}
${memorySection}
${gpuSection}`;
fs.writeFileSync(path.join(ROOT, 'docs/benchmarks.md'), doc);
console.log(
  `wrote docs/benchmarks.md (create ${http.ratio.create}×, retrieve ${http.ratio.retrieve}×, cache ${seed.speedup}×, warm ${latency.speedup}×, step cache ${accel.cache_speedup}×, cfg on 2 ranks ${parallel.cfg.overhead}×)`,
);
