/**
 * Regenerates the parameter table of a chart README from the `## @param` comments of its
 * values.yaml. `--check` exits 1 when the README is out of date (CI).
 * Usage: node -r @swc-node/register tools/helm/src/generate-readme.ts charts/t2v [--check]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { format, resolveConfig } from 'prettier';

import { runMain, writeOrCheck } from './generated-file';
import {
  danglingParams,
  parseValuesDoc,
  renderParamTable,
  undocumentedPaths,
  updateReadme,
} from './values-doc';

async function main(argv: string[]): Promise<number> {
  const chartDir = argv.find((a) => !a.startsWith('--')) ?? 'charts/t2v';
  const check = argv.includes('--check');
  const doc = parseValuesDoc(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const problems = [
    ...undocumentedPaths(doc).map((p) => `value ${p} has no ## @param`),
    ...danglingParams(doc).map((p) => `## @param ${p} names no value`),
  ];
  if (problems.length) {
    process.stderr.write(`${problems.join('\n')}\n`);
    return 1;
  }
  const readmePath = path.join(chartDir, 'README.md');
  const current = readFileSync(readmePath, 'utf8');
  // Formatted as the workspace's prettier would, so `prettier --check` and `--check` here agree.
  const config = (await resolveConfig(readmePath)) ?? {};
  const next = await format(updateReadme(current, renderParamTable(doc)), {
    ...config,
    filepath: readmePath,
  });
  return writeOrCheck(readmePath, current, next, check);
}

runMain(main);
