// Create and retrieve throughput of the API vs a bare node:http server doing the same JSON work,
// measured in the same run (ratios, since the machine is noisy). Loopback only, bounded in time.
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { startBuiltApi } from '../scripts/api-process.mjs';
import { startBareServer } from './bare-server.mjs';

function startApi() {
  // Workers take jobs slowly so the benchmark measures the HTTP and queue path, not encoding.
  return startBuiltApi({ LOG_LEVEL: 'info', T2V_MAX_QUEUE: '1000000', T2V_SYNTHETIC_STEP_MS: '60000' });
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
