// A SeaweedFS server (`weed server`: master, volume server, filer and S3 gateway in one process)
// on 127.0.0.1 with free ports and one S3 identity, for the object-storage tests and benchmarks.
// The binary comes from tools/seaweedfs/install-seaweedfs.sh (.tools/bin/weed).
//
// As a module: `startWeedServer({ dir })` resolves once the S3 gateway answers.
// As a program (`node weed-server.mjs <dir>`), for tests in another runtime: prints one JSON line
// `{"endpoint", "accessKey", "secretKey", "pid"}` once ready, and on SIGTERM or SIGINT kills the
// server and exits. The same <dir> again restarts it on the same ports and data.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../scripts/free-port.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WEED = process.env.WEED ?? path.join(ROOT, '.tools/bin/weed');
export const ACCESS_KEY = 't2vtestaccess';
export const SECRET_KEY = 't2vtestsecret0123456789';

/** Ports of a server directory: chosen once, kept in it so a restart finds the same endpoint. */
async function portsOf(dir) {
  const file = path.join(dir, 'ports.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const ports = {};
  for (const name of ['master', 'masterGrpc', 'volume', 'volumeGrpc', 'filer', 'filerGrpc', 's3', 's3Grpc'])
    ports[name] = await freePort();
  fs.writeFileSync(file, JSON.stringify(ports));
  return ports;
}

/** Starts (or restarts) the server of `dir`; resolves once an authenticated S3 request is answered. */
export async function startWeedServer({ dir, timeoutMs = 60_000 }) {
  if (!fs.existsSync(WEED))
    throw new Error(
      `${WEED} is missing: run bash tools/seaweedfs/install-seaweedfs.sh (npx nx run api:setup-seaweedfs)`,
    );
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  const config = path.join(dir, 's3.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      identities: [
        {
          name: 't2v',
          credentials: [{ accessKey: ACCESS_KEY, secretKey: SECRET_KEY }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
  );
  const p = await portsOf(dir);
  // A killed server leaves its gRPC Unix sockets behind (/tmp/seaweedfs-<role>-grpc-<port>.sock);
  // a restart on the same ports cannot bind them again.
  for (const name of fs.readdirSync(os.tmpdir()))
    if (
      /^seaweedfs-.*-(\d+)\.sock$/.test(name) &&
      Object.values(p).includes(Number(/(\d+)\.sock$/.exec(name)[1]))
    )
      fs.rmSync(path.join(os.tmpdir(), name), { force: true });
  const child = spawn(
    WEED,
    [
      'server',
      `-dir=${path.join(dir, 'data')}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-master.port=${p.master}`,
      `-master.port.grpc=${p.masterGrpc}`,
      '-master.volumeSizeLimitMB=64',
      `-volume.port=${p.volume}`,
      `-volume.port.grpc=${p.volumeGrpc}`,
      '-volume.max=16',
      '-filer',
      `-filer.port=${p.filer}`,
      `-filer.port.grpc=${p.filerGrpc}`,
      '-s3',
      `-s3.port=${p.s3}`,
      `-s3.port.grpc=${p.s3Grpc}`,
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
      '-iam=false',
      `-s3.config=${config}`,
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((r) => child.once('exit', r));
  const endpoint = `http://127.0.0.1:${p.s3}`;
  const deadline = Date.now() + timeoutMs;
  // An unsigned request is refused (403) by the gateway once it has its identities from the filer.
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(
        `weed server exited with ${child.exitCode}: ${/^F\d{4} .*$/m.exec(output)?.[0] ?? ''}\n${output.slice(-4000)}`,
      );
    const status = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 403) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`weed server not ready in ${timeoutMs} ms:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    pid: child.pid,
    logs: () => output,
    /** SIGKILL: it does not stop promptly on SIGTERM, and a killed server restarts cleanly. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node weed-server.mjs <dir>\n');
    process.exit(2);
  }
  const server = await startWeedServer({ dir });
  const end = async () => {
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', end);
  process.on('SIGINT', end);
  // The parent went away (killed, crashed) without stopping us: do not leave the server behind.
  process.stdin.on('end', end);
  process.stdin.resume();
  process.stdout.write(
    `${JSON.stringify({ endpoint: server.endpoint, accessKey: server.accessKey, secretKey: server.secretKey, pid: server.pid })}\n`,
  );
}
