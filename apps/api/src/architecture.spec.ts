import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The layering of docs/architecture/10-api.md, checked on the source: which top-level folder of
 * src/ imports which. Production code only (specs and the store contract may reach anywhere).
 */
const SRC = __dirname;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') && !e.name.endsWith('.contract.ts')
      ? [p]
      : [];
  });
}

const folderOf = (file: string) => path.relative(SRC, file).split(path.sep)[0]!.replace(/\.ts$/, '');

/** folder -> folders it imports (relative imports only). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), m[1]!);
      if (!target.startsWith(SRC + path.sep)) continue;
      const to = folderOf(target);
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** Each cycle once, as `a -> b -> a` starting from its smallest folder name. */
function cycles(graph: Map<string, Set<string>>): string[] {
  const found = new Set<string>();
  const visit = (node: string, trail: string[]) => {
    for (const next of graph.get(node) ?? []) {
      const at = trail.indexOf(next);
      if (at >= 0) {
        const loop = trail.slice(at);
        const start = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        found.add([...rotated, rotated[0]].join(' -> '));
      } else visit(next, [...trail, next]);
    }
  };
  for (const node of graph.keys()) visit(node, [node]);
  return [...found].sort();
}

describe('apps/api folder layering', () => {
  const graph = folderGraph();

  it('has no import cycle between folders', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps the domain free of HTTP, drivers and presentation', () => {
    for (const domain of ['jobs', 'worker-pool', 'storage']) {
      const uses = [...(graph.get(domain) ?? [])];
      expect({
        domain,
        uses: uses.filter((f) =>
          ['common', 'videos', 'compat', 'queue', 'wire', 'openapi', 'webhooks', 'health', 'web'].includes(f),
        ),
      }).toEqual({ domain, uses: [] });
    }
  });

  it('lets only the queue folder and the composition root reach the drivers', () => {
    const reach = [...graph].filter(([, to]) => to.has('queue')).map(([from]) => from);
    expect(reach.sort()).toEqual(['app.module']);
  });
});

describe('the job lifecycle', () => {
  it('is the only code that changes a status: no other file claims or transitions a job', () => {
    const writers = sources(SRC)
      // A store's claim or transition; the dispatchers call the lifecycle's claim.
      .filter((f) => /(?<!lifecycle)\.(claim|transition)\(/.test(fs.readFileSync(f, 'utf8')))
      .map((f) => path.relative(SRC, f));
    expect(writers).toEqual(['jobs/job-lifecycle.ts']);
  });
});
