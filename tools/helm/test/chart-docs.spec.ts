/** Every value is documented, typed by the schema, and listed in the README. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { danglingParams, parseValuesDoc, undocumentedPaths } from '../src/values-doc';
import { Any, CHART_DIR, REPO_ROOT, scenarios } from './chart.harness';
import { runGenerator } from './generators.harness';

const doc = parseValuesDoc(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8'));
const schema = JSON.parse(readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as Any;

function schemaAt(p: string): Any {
  let node = schema;
  for (const key of p.split('.')) {
    node = node?.properties?.[key];
    if (!node) return undefined;
  }
  return node;
}

function schemaPaths(node: Any, prefix = ''): string[] {
  if (!node.properties) return [prefix];
  return Object.entries(node.properties as Record<string, Any>).flatMap(([k, v]) =>
    schemaPaths(v, prefix ? `${prefix}.${k}` : k),
  );
}

describe('values documentation', () => {
  it('documents every value with ## @param', () => {
    expect(undocumentedPaths(doc)).toEqual([]);
    expect(danglingParams(doc)).toEqual([]);
    expect(doc.params.length).toBeGreaterThan(150);
  });

  it('puts every documented value in the schema', () => {
    expect(doc.params.map((p) => p.path).filter((p) => schemaAt(p) === undefined)).toEqual([]);
  });

  it('has a value for every schema property (no stale schema)', () => {
    const values = new Set(doc.params.map((p) => p.path));
    const stale = schemaPaths(schema).filter(
      (p) => p !== 'global' && ![...values].some((v) => p === v || p.startsWith(`${v}.`)),
    );
    expect(stale).toEqual([]);
  });

  it('closes every object of the schema that is not a free-form map', () => {
    const open: string[] = [];
    const walk = (node: Any, prefix: string): void => {
      if (node.type === 'object' && node.properties && node.additionalProperties !== false)
        open.push(prefix || '(root)');
      for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Any>))
        walk(v, prefix ? `${prefix}.${k}` : k);
    };
    walk(schema, '');
    expect(open).toEqual([]);
  });

  it('keeps the README parameter table up to date', async () => {
    const r = await runGenerator('generate-readme.ts', ['charts/t2v', '--check']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const readme = readFileSync(path.join(CHART_DIR, 'README.md'), 'utf8');
    for (const p of doc.params) expect(readme).toContain(`\`${p.path}\``);
  });
});

describe('docs/deploy.md', () => {
  const deploy = readFileSync(path.join(REPO_ROOT, 'docs/deploy.md'), 'utf8');

  it('has a one-line helm upgrade --install for every environment', () => {
    const envs = scenarios().filter((s) => s.startsWith('environments/'));
    expect(envs).toEqual(['environments/dev.yaml', 'environments/prod.yaml', 'environments/staging.yaml']);
    for (const env of envs) {
      expect(deploy).toMatch(
        new RegExp(`^helm upgrade --install t2v charts/t2v .*-f charts/t2v/${env.replace('.', '\\.')}`, 'm'),
      );
    }
  });

  it("checks the GPUs with a CUDA image of the CUDA version the t2v image's torch is built for", () => {
    const lock = readFileSync(path.join(REPO_ROOT, 'apps/worker/requirements.lock'), 'utf8');
    const cuda = /^nvidia-cuda-runtime==(\d+\.\d+)\./m.exec(lock)?.[1];
    expect(cuda).toBe('13.0');
    const images = [...deploy.matchAll(/nvidia\/cuda:(\d+\.\d+)\.\d+-base-/g)].map((m) => m[1]);
    expect(images.length).toBeGreaterThan(0);
    for (const version of images) expect(version).toBe(cuda);
    expect(deploy).toMatch(/R580 driver branch or newer/);
  });

  it('links only files that exist', () => {
    const missing = [...deploy.matchAll(/\]\(([^)#]+)\)/g)]
      .map((m) => m[1]!)
      .filter((link) => !/^https?:/.test(link))
      .filter((link) => !existsSync(path.resolve(REPO_ROOT, 'docs', link)));
    expect(missing).toEqual([]);
  });
});
