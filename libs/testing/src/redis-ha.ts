import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** redis-server (also run as a sentinel with `--sentinel`); Debian's package puts it here. */
export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';

/** A redis-server or sentinel process on 127.0.0.1. */
export interface RedisProcess {
  port: number;
  dir: string;
  logs: () => string;
  /** SIGKILL (no AOF flush, no goodbye to replicas), then waits for the exit. */
  kill: () => Promise<void>;
  /** SIGTERM, then waits for the exit. */
  stop: () => Promise<void>;
  /** SIGSTOP: the process keeps its connections open but answers nothing (a stalled node). */
  pause: () => void;
  /** SIGCONT after `pause`. */
  resume: () => void;
}

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
  const child: ChildProcess = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  const deadline = Date.now() + 10_000;
  while (!ready.test(output)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server ${args.join(' ')} exited:\n${output}`);
    }
    if (Date.now() > deadline) {
      await end('SIGKILL');
      throw new Error(`redis-server ${args.join(' ')} not ready in 10 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  return {
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
 * A redis-server on 127.0.0.1 (a free port unless `port`), its own temp dir, persistence as given
 * (default: none), optionally a replica of `replicaOf`.
 */
export async function startRedisNode(
  opts: {
    port?: number;
    dir?: string;
    replicaOf?: number;
    appendfsync?: 'always' | 'everysec';
    args?: string[];
  } = {},
): Promise<RedisProcess> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 't2v-redis-ha-'));
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
    // A rejoining replica syncs at once instead of after the default 5 s diskless-sync delay.
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
