// A/B of built APIs: `node tools/bench/compare-apis.mjs <main.js> <main.js> … [--seconds N]`
// measures create and retrieve (50 connections) of each build, of the bare node:http baseline and
// of the framework floor (NestJS + Fastify doing the same in-memory work), every server in its own
// process, two rounds each, one server at a time; prints the best round of each and its ratios to
// both. For comparing another commit's build: `git worktree add ../ab <commit>`,
// then `npm ci && npx nx build api` there. Loopback only, bounded in time.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startBuiltApi, startNodeServer } from '../scripts/api-process.mjs';
import { API_ENV, measure } from './http-bench.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const args = process.argv.slice(2);
const at = args.indexOf('--seconds');
const seconds = at >= 0 ? Number(args.splice(at, 2)[1]) : 8;
if (args.length === 0) {
  console.error('usage: compare-apis.mjs <dist/apps/api/main.js> … [--seconds N]');
  process.exit(2);
}
const running = [];
try {
  running.push({ name: 'bare node:http', ...(await startNodeServer(path.join(HERE, 'bare-server.mjs'))) });
  running.push({ name: 'framework floor', ...(await startNodeServer(path.join(HERE, 'nest-floor.mjs'))) });
  for (const a of args) running.push({ name: a, ...(await startBuiltApi(API_ENV, path.resolve(a))) });
  for (const s of running) await measure(s.url, 1);
  const best = new Map();
  for (let round = 0; round < 2; round++) {
    for (const s of running) {
      const { create, retrieve } = await measure(s.url, seconds);
      const b = best.get(s.name) ?? { create: 0, retrieve: 0 };
      best.set(s.name, {
        create: Math.max(b.create, create.rps),
        retrieve: Math.max(b.retrieve, retrieve.rps),
      });
    }
  }
  const bare = best.get('bare node:http');
  const floor = best.get('framework floor');
  for (const [name, r] of best) {
    const ratio = (k, base) => (r[k] / base[k]).toFixed(3);
    console.log(
      `${name}: create ${r.create}/s (${ratio('create', bare)}× bare, ${ratio('create', floor)}× floor), ` +
        `retrieve ${r.retrieve}/s (${ratio('retrieve', bare)}× bare, ${ratio('retrieve', floor)}× floor)`,
    );
  }
} finally {
  for (const s of running) s.stop();
}
