// Writes docs/operations/metrics.md from the metrics the API declares (the built
// dist/apps/api/metrics/metrics.js, METRIC_DEFINITIONS) and the default process and Node.js
// metrics prom-client adds. `--check`: exits 1 when the committed page differs.
// Usage: node apps/api/scripts/metrics-reference.mjs docs/operations/metrics.md [--check]
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { format, resolveConfig } from 'prettier';
import { collectDefaultMetrics, Registry } from 'prom-client';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BUILT = path.join(ROOT, 'dist/apps/api/metrics/metrics.js');

const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function render(definitions, defaults) {
  const out = [
    '# Metrics reference',
    '',
    '<!-- Generated from apps/api/src/metrics/metrics.ts by `npx nx run api:generate`; do not edit. -->',
    '',
    'Every metric the API exports on `/metrics` (Prometheus text format, one scrape per replica).',
    'Alerts and dashboards query only these; what to do when an alert fires is in',
    '[runbooks.md](runbooks.md).',
    '',
    '| metric | type | labels | meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const m of definitions) {
    const labels = Object.entries(m.labels).map(([k, v]) => `\`${k}\`: ${v}`);
    out.push(
      `| <a id="${m.name}"></a>\`${m.name}\` | ${m.type} | ${cell(labels.join('; ') || '–')} | ${cell(m.meaning)} |`,
    );
  }
  out.push('', '## Histogram buckets (seconds)', '');
  for (const m of definitions.filter((d) => d.type === 'histogram')) {
    out.push(`- \`${m.name}\`: ${m.buckets.join(', ')}`);
  }
  out.push(
    '',
    '## Process and Node.js metrics',
    '',
    "prom-client's default metrics of the API process (the dashboards use",
    '`process_cpu_seconds_total` and `process_resident_memory_bytes`):',
    '',
    '| metric | type | meaning |',
    '| --- | --- | --- |',
  );
  for (const d of defaults) out.push(`| \`${d.name}\` | ${d.type} | ${cell(d.help)} |`);
  return out.join('\n') + '\n';
}

async function main() {
  const args = process.argv.slice(2);
  const target = args.find((a) => !a.startsWith('--'));
  if (!target) throw new Error('usage: metrics-reference.mjs <file> [--check]');
  if (!fs.existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npx nx run api:build first`);
  const { METRIC_DEFINITIONS } = createRequire(import.meta.url)(BUILT);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const defaults = (await registry.getMetricsAsJSON())
    .map((m) => ({ name: m.name, type: m.type, help: m.help }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const text = await format(render(METRIC_DEFINITIONS, defaults), {
    ...((await resolveConfig(target)) ?? {}),
    filepath: target,
  });
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (args.includes('--check')) {
    if (current !== text) {
      process.stderr.write(`${target} is out of date with the API's metrics: run npx nx run api:generate\n`);
      process.exit(1);
    }
    process.stdout.write(`${target} matches the API's metrics.\n`);
    return;
  }
  if (current !== text) fs.writeFileSync(target, text);
  process.stdout.write(`wrote ${target}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
