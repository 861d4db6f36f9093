/**
 * Writes docs/monitoring/t2v-alerts.yml from the chart's PrometheusRule; `--check` exits 1 on drift.
 * Usage: node -r @swc-node/register tools/helm/src/generate-static-rules.ts charts/t2v docs/monitoring/t2v-alerts.yml [--check]
 */
import { readFileSync } from 'node:fs';

import { format, resolveConfig } from 'prettier';

import { HelmDriver } from './helm.driver';
import { renderStaticRules } from './static-rules';
import { runMain, writeOrCheck } from './generated-file';

async function main(argv: string[]): Promise<number> {
  const [chartDir = 'charts/t2v', outFile = 'docs/monitoring/t2v-alerts.yml'] = argv.filter(
    (a) => !a.startsWith('--'),
  );
  const check = argv.includes('--check');
  const config = (await resolveConfig(outFile)) ?? {};
  const next = await format(await renderStaticRules(new HelmDriver(), chartDir), {
    ...config,
    filepath: outFile,
  });
  let current = '';
  try {
    current = readFileSync(outFile, 'utf8');
  } catch {
    // first run
  }
  return writeOrCheck(outFile, current, next, check);
}

runMain(main);
