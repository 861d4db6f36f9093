// Create and retrieve throughput of the API vs a bare node:http server doing the same JSON work,
// measured in the same run (ratios, since the machine is noisy). Loopback only, bounded in time.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { startBareServer } from './bare-server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function startApi() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-bench-'));
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api/main.js')], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      T2V_DATA_DIR: dataDir,
      T2V_MAX_QUEUE: '1000000',
      // Workers take jobs slowly so the benchmark measures the HTTP and queue path, not encoding.
      T2V_SYNTHETIC_STEP_MS: '60000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`API exited ${code}`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
  });
  for (let i = 0; i < 200; i++) {
    if ((await fetch(`${url}/readyz`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, stop: () => (child.kill('SIGKILL'), fs.rmSync(dataDir, { recursive: true, force: true })) };
}

function cannon(opts) {
  return new Promise((resolve, reject) =>
    autocannon({ connections: 50, ...opts }, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

async function measure(url, seconds) {
  const body = JSON.stringify({ prompt: 'a cat dancing in the rain', seconds: 1 });
  const create = await cannon({
    url: `${url}/v1/videos`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    duration: seconds,
  });
  const seed = await (
    await fetch(`${url}/v1/videos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  ).json();
  const retrieve = await cannon({ url: `${url}/v1/videos/${seed.id}`, duration: seconds });
  const summary = (r) => ({
    rps: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    errors: r.errors + r.non2xx,
  });
  return { create: summary(create), retrieve: summary(retrieve) };
}

export async function runHttpBench({ seconds = 10 } = {}) {
  const bare = await startBareServer();
  const bareUrl = `http://127.0.0.1:${bare.address().port}`;
  const api = await startApi();
  try {
    // Warm both, then alternate: bare, API.
    await measure(bareUrl, 1);
    await measure(api.url, 1);
    const baseline = await measure(bareUrl, seconds);
    const t2v = await measure(api.url, seconds);
    return {
      baseline,
      t2v,
      ratio: {
        create: +(t2v.create.rps / baseline.create.rps).toFixed(3),
        retrieve: +(t2v.retrieve.rps / baseline.retrieve.rps).toFixed(3),
      },
    };
  } finally {
    api.stop();
    bare.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? 10);
  console.log(JSON.stringify(await runHttpBench({ seconds }), null, 2));
}
