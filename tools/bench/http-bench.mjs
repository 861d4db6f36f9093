// Create and retrieve throughput of the API vs a bare node:http server doing the same JSON work,
// and vs the framework's floor (NestJS + Fastify doing only that work), measured in the same run
// (ratios, since the machine is noisy). Each server runs in its own process, so none shares an
// event loop with the load generator. Loopback only, bounded in time.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { startBuiltApi, startNodeServer } from '../scripts/api-process.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

// Workers take jobs slowly so the benchmark measures the HTTP and queue path, not encoding.
export const API_ENV = { LOG_LEVEL: 'info', T2V_MAX_QUEUE: '1000000', T2V_SYNTHETIC_STEP_MS: '60000' };
const startApi = () => startBuiltApi(API_ENV);

/** One of the baselines in this folder, in its own Node process. */
const startScript = (script) => startNodeServer(path.join(HERE, script));

function cannon(opts) {
  return new Promise((resolve, reject) =>
    autocannon({ connections: 50, ...opts }, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

/** Create then retrieve, `seconds` each, at 50 connections: requests/s, p50/p99 and errors. */
export async function measure(url, seconds) {
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

const ratio = (a, b) => ({
  create: +(a.create.rps / b.create.rps).toFixed(3),
  retrieve: +(a.retrieve.rps / b.retrieve.rps).toFixed(3),
});

export async function runHttpBench({ seconds = 10 } = {}) {
  const bare = await startScript('bare-server.mjs');
  const floor = await startScript('nest-floor.mjs');
  const api = await startApi();
  try {
    // Warm all three, then measure one after the other.
    for (const s of [bare, floor, api]) await measure(s.url, 1);
    const baseline = await measure(bare.url, seconds);
    const framework = await measure(floor.url, seconds);
    const t2v = await measure(api.url, seconds);
    return {
      baseline,
      framework,
      t2v,
      ratio: ratio(t2v, baseline),
      frameworkRatio: ratio(framework, baseline),
      ofFramework: ratio(t2v, framework),
    };
  } finally {
    api.stop();
    floor.stop();
    bare.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? 10);
  console.log(JSON.stringify(await runHttpBench({ seconds }), null, 2));
}
