// What the durable acknowledgement of the redis driver costs per create: the API (synthetic
// engine, workers idle on purpose) against a real redis-server primary with one replica on
// loopback, under each durability rule, one after the other in the same run:
//   primary   acknowledged once the primary applied it (the setting before WAIT; AOF everysec)
//   replicas  WAIT for the replica after each create (T2V_REDIS_DURABILITY=replicas)
//   fsync     no WAIT; the primary runs appendfsync always (T2V_REDIS_DURABILITY=fsync)
// Each rule: create latency at 1 connection (the per-create cost) and throughput at 50.
// Ratios are against `primary` measured in the same run. Loopback only, bounded in time.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import autocannon from 'autocannon';

import { startBuiltApi } from '../scripts/api-process.mjs';
import { freePort } from '../scripts/free-port.mjs';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const REDIS_CLI = process.env.REDIS_CLI ?? '/usr/bin/redis-cli';

export async function redisNode(args) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-bench-redis-'));
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; !/Ready to accept connections/.test(out); i++) {
    if (i > 200 || child.exitCode !== null) throw new Error(`redis-server did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop() {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One command through redis-cli (installed with redis-server): its reply as text. */
function redisCommand(port, ...args) {
  return execFileSync(REDIS_CLI, ['-p', String(port), ...args]).toString();
}

async function replicaOnline(primaryPort) {
  for (let i = 0; i < 200; i++) {
    if (/slave\d+:.*state=online/.test(redisCommand(primaryPort, 'INFO', 'replication'))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the replica did not come online');
}

function cannon(opts) {
  return new Promise((resolve, reject) =>
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

const BODY = JSON.stringify({ prompt: 'a cat dancing in the rain', seconds: 1 });

async function measure(url, seconds) {
  const request = {
    url: `${url}/v1/videos`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    duration: seconds,
  };
  await cannon({ ...request, connections: 10, duration: 1 }); // warm-up
  const one = await cannon({ ...request, connections: 1 });
  const fifty = await cannon({ ...request, connections: 50 });
  return {
    one_mean_ms: +one.latency.mean.toFixed(3),
    one_p50_ms: one.latency.p50,
    one_p99_ms: one.latency.p99,
    fifty_rps: Math.round(fifty.requests.average),
    fifty_p99_ms: fifty.latency.p99,
    errors: one.errors + one.non2xx + fifty.errors + fifty.non2xx,
  };
}

/** Runs the three rules in one run; returns each rule's figures and the ratios to `primary`. */
export async function runRedisDurabilityBench({ seconds = 5 } = {}) {
  const primary = await redisNode(['--appendonly', 'yes', '--appendfsync', 'everysec']);
  const replica = await redisNode(['--appendonly', 'no', '--replicaof', '127.0.0.1', String(primary.port)]);
  const results = {};
  try {
    await replicaOnline(primary.port);
    for (const rule of ['primary', 'replicas', 'fsync']) {
      redisCommand(primary.port, 'FLUSHALL');
      redisCommand(primary.port, 'CONFIG', 'SET', 'appendfsync', rule === 'fsync' ? 'always' : 'everysec');
      const api = await startBuiltApi({
        // info, as the HTTP benchmark: the listening line is what startBuiltApi waits for.
        LOG_LEVEL: 'info',
        T2V_QUEUE: 'redis',
        REDIS_URL: `redis://127.0.0.1:${primary.port}`,
        T2V_REDIS_DURABILITY: rule,
        T2V_MAX_QUEUE: '1000000',
        // Workers take jobs slowly: this measures the create path, not encoding.
        T2V_SYNTHETIC_STEP_MS: '60000',
      });
      try {
        results[rule] = await measure(api.url, seconds);
      } finally {
        api.stop();
      }
    }
  } finally {
    primary.stop();
    replica.stop();
  }
  const ratio = (rule) => ({
    latency_1conn: +(results[rule].one_mean_ms / results.primary.one_mean_ms).toFixed(3),
    throughput_50conn: +(results[rule].fifty_rps / results.primary.fifty_rps).toFixed(3),
  });
  return { seconds, ...results, ratio: { replicas: ratio('replicas'), fsync: ratio('fsync') } };
}

/** The docs/benchmarks.md section of tools/bench/redis-durability-bench.mjs. */
export function durabilitySection(d) {
  const row = (name, r) =>
    `| ${name} | ${r.one_mean_ms} | ${r.one_p50_ms} | ${r.one_p99_ms} | ${r.fifty_rps} | ${r.fifty_p99_ms} | ${r.errors} |`;
  return `## Redis: what the durable acknowledgement costs per create

The API (redis driver, workers idle) against a real redis-server primary (AOF everysec) with one
replica on loopback, once per \`T2V_REDIS_DURABILITY\` rule (\`tools/bench/redis-durability-bench.mjs\`,
${d.seconds} s per measurement): create latency at 1 connection (the per-create cost) and
throughput at 50 connections. \`primary\` is the setting before durable acknowledgement.

| rule | mean ms (1 conn) | p50 ms | p99 ms | creates/s (50 conn) | p99 ms (50 conn) | errors |
|---|---|---|---|---|---|---|
${row('primary (no WAIT)', d.primary)}
${row('replicas (WAIT 1 replica)', d.replicas)}
${row('fsync (appendfsync always)', d.fsync)}

| ratio to primary | latency, 1 connection | throughput, 50 connections |
|---|---|---|
| replicas | **${d.ratio.replicas.latency_1conn}×** | **${d.ratio.replicas.throughput_50conn}×** |
| fsync | ${d.ratio.fsync.latency_1conn}× | ${d.ratio.fsync.throughput_50conn}× |

The trade-off: [ADR 0041](adr/0041-redis-high-availability.md).`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 5;
  console.log(JSON.stringify(await runRedisDurabilityBench({ seconds }), null, 2));
}
