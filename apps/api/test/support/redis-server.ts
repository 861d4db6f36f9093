import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
export const REDIS_CLI = process.env['REDIS_CLI'] ?? '/usr/bin/redis-cli';

export interface RedisServer {
  url: string;
  port: number;
  /** Working directory (AOF files live here). */
  dir: string;
  child: ChildProcess;
  /** Stops it with SHUTDOWN semantics (SIGTERM: AOF flushed) and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real redis-server bound to 127.0.0.1 on a free port (or `port`), persistence off
 * unless `appendonly`, and resolves once it accepts connections. Tests must stop it.
 */
export async function startRedis(
  opts: { port?: number; dir?: string; appendonly?: boolean; args?: string[] } = {},
): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 't2v-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--protected-mode',
    'yes',
    '--dir',
    dir,
    '--save',
    '',
    ...(opts.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(opts.args ?? []),
  ];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const logs: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start:\n${logs.join('')}`)),
      10_000,
    );
    const onData = (d: Buffer) => {
      logs.push(d.toString());
      if (/Ready to accept connections/.test(logs.join(''))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited:\n${logs.join('')}`));
    });
  });
  child.stdout!.removeAllListeners('data').resume();
  child.stderr!.removeAllListeners('data').resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A two-node Redis Cluster on loopback in which node `owner` serves exactly one slot, the slot of
 * the hash tag `{tag}`, and `other` serves the other 16383. A plain client on `owner` can use only
 * keys in that slot: anything else is refused (MOVED, CROSSSLOT, or "Script attempted to access a
 * non local key"), which is what a real Cluster would do to keys that do not share the slot.
 */
export async function startOneSlotCluster(tag: string): Promise<{
  owner: RedisServer;
  other: RedisServer;
  slot: number;
  stop(): Promise<void>;
}> {
  const clusterArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'];
  const owner = await startRedis({ args: clusterArgs });
  const other = await startRedis({ args: clusterArgs });
  const cli = (node: RedisServer, ...args: string[]) =>
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
