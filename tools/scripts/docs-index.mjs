// docs/README.md, the documentation index: writes its list of ADRs from each ADR's title, and
// checks that every guide of the repository (docs/**/*.md and each README or policy page) is
// linked from it and that each of its links leads to a file. `--check` changes nothing and exits
// 1 on a stale list or a missing or broken link.
// Usage: node tools/scripts/docs-index.mjs [--check]
import * as fs from 'node:fs';
import * as path from 'node:path';

import { format, resolveConfig } from 'prettier';

import { ROOT } from './prereqs.mjs';

const INDEX = path.join(ROOT, 'docs/README.md');
const ADRS = path.join(ROOT, 'docs/adr');
const START = /<!-- adrs:start[^>]*-->\n/;
const END = '<!-- adrs:end -->';
/** Folders whose markdown is not a guide: dependencies, build output, generated changelogs. */
const SKIP = new Set(['node_modules', 'dist', '.git', '.nx', '.tools', '.venv', 'tmp', 'data']);

function markdownFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name) || e.name.startsWith('.')) return [];
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return markdownFiles(p);
    return e.name.endsWith('.md') ? [p] : [];
  });
}

/** Every page the index must link: docs/**, each README, SECURITY.md (test fixtures excepted). */
function guides() {
  return markdownFiles(ROOT)
    .filter((f) => f !== INDEX)
    .filter((f) => f.startsWith(path.join(ROOT, 'docs/')) || /(^|\/)(README|SECURITY)\.md$/.test(f))
    .filter((f) => !/\/test\/|\/fake-workers\//.test(f));
}

function adrList() {
  const rows = fs
    .readdirSync(ADRS)
    .filter((f) => /^\d{4}-.*\.md$/.test(f))
    .sort()
    .map((f) => {
      const title = fs
        .readFileSync(path.join(ADRS, f), 'utf8')
        .split('\n')[0]
        .replace(/^#\s*(ADR\s*)?/, '')
        .replace(/^(\d{4})[.:]?\s*/, '');
      return `| [${f.slice(0, 4)}](adr/${f}) | ${title.replace(/\|/g, '\\|')} |`;
    });
  return ['| ADR | decision |', '| --- | --- |', ...rows].join('\n') + '\n';
}

async function main() {
  const check = process.argv.includes('--check');
  const current = fs.readFileSync(INDEX, 'utf8');
  const start = START.exec(current);
  const end = current.indexOf(END);
  if (!start || end < 0) throw new Error(`${INDEX}: the adrs:start / adrs:end markers are missing`);
  const head = current.slice(0, start.index + start[0].length);
  const next = await format(`${head}\n${adrList()}\n${current.slice(end)}`, {
    ...((await resolveConfig(INDEX)) ?? {}),
    filepath: INDEX,
  });

  const problems = [];
  const linked = new Set(
    [...next.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1])
      .filter((href) => !/^[a-z]+:/.test(href))
      .map((href) => path.resolve(path.dirname(INDEX), href)),
  );
  for (const target of linked)
    if (!fs.existsSync(target)) problems.push(`broken link: ${path.relative(ROOT, target)}`);
  for (const guide of guides())
    if (!linked.has(guide)) problems.push(`not linked: ${path.relative(ROOT, guide)}`);

  if (check) {
    if (next !== current) problems.unshift('the ADR list is out of date: run npx nx run scripts:generate');
    if (problems.length > 0) {
      process.stderr.write(`docs/README.md:\n  ${problems.join('\n  ')}\n`);
      process.exit(1);
    }
    process.stdout.write('docs/README.md lists every guide and ADR.\n');
    return;
  }
  if (next !== current) fs.writeFileSync(INDEX, next);
  if (problems.length > 0) {
    process.stderr.write(`docs/README.md (ADR list written):\n  ${problems.join('\n  ')}\n`);
    process.exit(1);
  }
  process.stdout.write('wrote docs/README.md\n');
}

await main();
