/**
 * Real redis-server processes on loopback for t2v's tests: a standalone server, a replica, a
 * sentinel, a one-slot Cluster node. Every process gets its own directory and a free port.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** redis-server (also run as a sentinel with `--sentinel`); Debian's package puts it here. */
export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
export const REDIS_CLI = process.env['REDIS_CLI'] ?? '/usr/bin/redis-cli';

/** A redis-server or sentinel process on 127.0.0.1. */
export interface RedisProcess {
  url: string;
  port: number;
  /** Working directory (AOF files live here). */
  dir: string;
  logs: () => string;
  /** SIGKILL (no AOF flush, no goodbye to replicas), then waits for the exit. */
  kill: () => Promise<void>;
  /** SIGTERM (Redis flushes the AOF), then waits for the exit. */
  stop: () => Promise<void>;
  /** SIGSTOP: the process keeps its connections open but answers nothing (a stalled node). */
  pause: () => void;
  /** SIGCONT after `pause`. */
  resume: () => void;
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Spawns `redis-server args…` and resolves once its log matches `ready` (bounded). */
async function spawnRedis(args: string[], dir: string, port: number, ready: RegExp): Promise<RedisProcess> {
  const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const signal = (sig: NodeJS.Signals) => {
    if (alive()) child.kill(sig);
  };
  const end = async (sig: NodeJS.Signals) => {
    signal(sig);
    await exited;
  };
  const deadline = Date.now() + 10_000;
  while (!ready.test(output)) {
    if (!alive()) throw new Error(`redis-server ${args.join(' ')} exited:\n${output}`);
    if (Date.now() > deadline) {
      await end('SIGKILL');
      throw new Error(`redis-server ${args.join(' ')} not ready in 10 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    logs: () => output,
    kill: () => end('SIGKILL'),
    stop: () => end('SIGTERM'),
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
  };
}

/**
 * A redis-server on 127.0.0.1 (a free port unless `port`), in `dir` or a temp dir of its own,
 * persistence off unless `appendfsync` turns AOF on, optionally a replica of `replicaOf`; `args`
 * come last and win. Resolves once it accepts connections; tests must stop it.
 */
export async function startRedis(
  opts: {
    port?: number;
    dir?: string;
    replicaOf?: number;
    appendfsync?: 'always' | 'everysec';
    args?: string[];
  } = {},
): Promise<RedisProcess> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 't2v-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    ...(opts.appendfsync
      ? ['--appendonly', 'yes', '--appendfsync', opts.appendfsync]
      : ['--appendonly', 'no']),
    ...(opts.replicaOf ? ['--replicaof', '127.0.0.1', String(opts.replicaOf)] : []),
    // A (re)joining replica syncs at once instead of after the default 5 s diskless-sync delay.
    '--repl-diskless-sync-delay',
    '0',
    ...(opts.args ?? []),
  ];
  return spawnRedis(args, dir, port, /Ready to accept connections/);
}

/**
 * A sentinel on 127.0.0.1 watching `name` at `primaryPort` (quorum 2), with short detection so a
 * test's failover takes seconds: down after `downAfterMs`, failover timeout `failoverTimeoutMs`.
 */
export async function startSentinel(opts: {
  primaryPort: number;
  name?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 't2v-sentinel-'));
  const name = opts.name ?? 't2v';
  // The sentinel rewrites its config file (what it learns): it must be its own writable file.
  writeFileSync(
    join(dir, 'sentinel.conf'),
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${opts.primaryPort} 2`,
      `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 3000}`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  return spawnRedis([join(dir, 'sentinel.conf'), '--sentinel'], dir, port, /\+monitor master/);
}

/** Kills every process (SIGKILL) and removes their directories. */
export async function killAll(processes: Array<RedisProcess | null | undefined>): Promise<void> {
  await Promise.all(processes.map((p) => p?.kill()));
  for (const p of processes) if (p) rmSync(p.dir, { recursive: true, force: true });
}

/**
 * A two-node Redis Cluster on loopback in which node `owner` serves exactly one slot, the slot of
 * the hash tag `{tag}`, and `other` serves the other 16383. A plain client on `owner` can use only
 * keys in that slot: anything else is refused (MOVED, CROSSSLOT, or "Script attempted to access a
 * non local key"), which is what a real Cluster would do to keys that do not share the slot.
 */
export async function startOneSlotCluster(tag: string): Promise<{
  owner: RedisProcess;
  other: RedisProcess;
  slot: number;
  stop(): Promise<void>;
}> {
  const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'];
  const owner = await startRedis({ args: clusterArgs });
  const other = await startRedis({ args: clusterArgs });
  const cli = (node: RedisProcess, ...args: string[]) =>
    execFileSync(REDIS_CLI, ['-p', String(node.port), ...args])
      .toString()
      .trim();
  const slot = Number(cli(owner, 'CLUSTER', 'KEYSLOT', `{${tag}}`));
  cli(owner, 'CLUSTER', 'MEET', '127.0.0.1', String(other.port));
  cli(owner, 'CLUSTER', 'ADDSLOTSRANGE', String(slot), String(slot));
  if (slot > 0) cli(other, 'CLUSTER', 'ADDSLOTSRANGE', '0', String(slot - 1));
  if (slot < 16383) cli(other, 'CLUSTER', 'ADDSLOTSRANGE', String(slot + 1), '16383');
  const deadline = Date.now() + 10_000;
  while (!/cluster_state:ok/.test(cli(owner, 'CLUSTER', 'INFO'))) {
    if (Date.now() > deadline) throw new Error('the two-node cluster did not reach cluster_state:ok');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    owner,
    other,
    slot,
    async stop() {
      await Promise.all([owner.stop(), other.stop()]);
    },
  };
}
