// The "Live previews" section of docs/benchmarks.md from apps/worker/scripts/preview_bench.py's
// JSON (run by run.mjs, or alone: `node tools/bench/preview-cost.mjs` prints the section).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const pct = (x) => `${(x * 100).toPrecision(2)} %`;

export function previewSection(r) {
  const p = r.preview;
  return `## Live previews: one preview at the full latent shape vs a step

\`apps/worker/scripts/preview_bench.py\`: one live preview as the worker makes it
(\`t2v_worker/preview.py\`) from latents of Wan2.2-TI2V-5B's full shape for ${r.video}
(${r.latent_shape.join('×')}): the fitted 48→3 projection of four latent frames, upscaled into a
${p.picture} grid and encoded as one ${p.mime} (unit-normal latents: the least compressible
content). Median of ${r.rounds} rounds on the CPU, ${r.threads} torch threads. Baseline in the same run:
this CPU's float32 matrix-multiply throughput on the transformer's feed-forward shape, which
turns the model's ${r.baseline.pass_tflop} TFLOP a pass (two passes a step with guidance) into
seconds. That step time is a projection from a measured throughput, not a timed step.

| | value |
|---|---|
| preview, median (max) | **${p.median_ms} ms** (${p.max_ms} ms) |
| of which projection / WebP encode | ${p.project_median_ms} ms / ${p.encode_median_ms} ms |
| picture | ${p.picture}, ${p.bytes} bytes at most |
| matrix-multiply throughput | ${r.baseline.gemm_gflops} GFLOP/s |
| one step on this CPU (projected) | ${r.baseline.projected_step_s} s |
| **preview / step** | **${pct(r.preview_share_of_step)}** (budget 2 %) |
| preview / a 60 s step | ${pct(r.preview_share_of_a_60s_step)} |

A worker sends at most one preview every \`T2V_PREVIEW_EVERY_STEPS\` steps (default 2) and
\`T2V_PREVIEW_MIN_INTERVAL_S\` seconds (default 1), so the share of a run is at most half the
row above. On a GPU the projection runs where the latents are and only the four small frames
cross to the host; the WebP encode is host work whatever the device.`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const rounds = process.argv.includes('--rounds')
    ? process.argv[process.argv.indexOf('--rounds') + 1]
    : '20';
  const run = spawnSync(
    path.join(root, 'apps/worker/.venv/bin/python'),
    [path.join(root, 'apps/worker/scripts/preview_bench.py'), '--rounds', rounds],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`preview_bench.py failed: ${run.stderr}`);
  console.log(previewSection(JSON.parse(run.stdout)));
}
