// A/B of built APIs: `node tools/bench/compare-apis.mjs <main.js> <main.js> … [--seconds N]`
// measures create and retrieve (50 connections) of each build and of the bare node:http baseline,
// every server in its own process, two rounds each, one server at a time; prints the best round of
// each and the ratios. For comparing another commit's build: `git worktree add ../ab <commit>`,
// then `npm ci && npx nx build api` there. Loopback only, bounded in time.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

const HERE = path.dirname(fileURLToPath(import.meta.url));

async function start(script, env = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-ab-'));
  const child = spawn(process.execPath, [script], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      HOST: '127.0.0.1',
      T2V_DATA_DIR: dataDir,
      T2V_MAX_QUEUE: '1000000',
      T2V_SYNTHETIC_STEP_MS: '60000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
  });
  return {
    url,
    stop() {
      child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const cannon = (opts) =>
  new Promise((resolve, reject) =>
    autocannon({ connections: 50, ...opts }, (err, r) =>
      err ? reject(err) : resolve(Math.round(r.requests.average)),
    ),
  );

async function measure(url, seconds) {
  const body = JSON.stringify({ prompt: 'a cat dancing in the rain', seconds: 1 });
  const headers = { 'content-type': 'application/json' };
  const create = await cannon({ url: `${url}/v1/videos`, method: 'POST', headers, body, duration: seconds });
  const seed = await (await fetch(`${url}/v1/videos`, { method: 'POST', headers, body })).json();
  const retrieve = await cannon({ url: `${url}/v1/videos/${seed.id}`, duration: seconds });
  return { create, retrieve };
}

const args = process.argv.slice(2);
const at = args.indexOf('--seconds');
const seconds = at >= 0 ? Number(args.splice(at, 2)[1]) : 8;
if (args.length === 0) {
  console.error('usage: compare-apis.mjs <dist/apps/api/main.js> … [--seconds N]');
  process.exit(2);
}
const servers = [
  ['bare node:http', path.join(HERE, 'bare-server.mjs')],
  ...args.map((a) => [a, path.resolve(a)]),
];
const running = [];
try {
  for (const [name, script] of servers) running.push({ name, ...(await start(script)) });
  for (const s of running) await measure(s.url, 1);
  const best = new Map();
  for (let round = 0; round < 2; round++) {
    for (const s of running) {
      const m = await measure(s.url, seconds);
      const b = best.get(s.name) ?? { create: 0, retrieve: 0 };
      best.set(s.name, { create: Math.max(b.create, m.create), retrieve: Math.max(b.retrieve, m.retrieve) });
    }
  }
  const bare = best.get('bare node:http');
  for (const [name, r] of best) {
    const ratio = (k) => (r[k] / bare[k]).toFixed(3);
    console.log(
      `${name}: create ${r.create}/s (${ratio('create')}×), retrieve ${r.retrieve}/s (${ratio('retrieve')}×)`,
    );
  }
} finally {
  for (const s of running) s.stop();
}
