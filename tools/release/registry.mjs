// A throwaway npm registry on 127.0.0.1: Verdaccio (installed by install-verdaccio.sh) with fresh
// storage, @t2v/* served only from what is published to it, everything else proxied to the npm
// registry the npm client is configured with. One user is created; its token is in `npmrc`.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '../scripts/free-port.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VERDACCIO = path.join(ROOT, '.tools/verdaccio/node_modules/verdaccio/bin/verdaccio');

/** Starts Verdaccio; resolves once it answers, with a user's token written to an npmrc file. */
export async function startRegistry() {
  if (!fs.existsSync(VERDACCIO))
    throw new Error(`${VERDACCIO} is missing: run tools/release/install-verdaccio.sh`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-registry-'));
  const upstream = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  fs.writeFileSync(
    path.join(dir, 'config.yaml'),
    [
      `storage: ${path.join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${path.join(dir, 'htpasswd')}`,
      '    max_users: 1',
      'uplinks:',
      '  upstream:',
      `    url: ${upstream}`,
      'packages:',
      "  '@t2v/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    proxy: upstream',
      'log: { type: stdout, format: pretty, level: warn }',
      // Idle keep-alive connections stay open longer than any step of the test (a publish that
      // builds first takes longer than the 5 s default, and a client reusing a connection the
      // server has just closed sees "other side closed").
      'server:',
      '  keepAliveTimeout: 600',
      '',
    ].join('\n'),
  );
  const child = spawn(
    process.execPath,
    [VERDACCIO, '--config', path.join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs = [];
  for (const stream of [child.stdout, child.stderr])
    readline.createInterface({ input: stream }).on('line', (l) => logs.push(l));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}-/ping`)).ok) break;
    } catch {
      /* not yet */
    }
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`verdaccio did not start:\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // `npm adduser` without the prompt: the CouchDB user document Verdaccio answers with a token.
  const res = await fetch(`${url}-/user/org.couchdb.user:t2v`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 't2v',
      password: 'release-test',
      type: 'user',
      roles: [],
      date: new Date().toISOString(),
    }),
  });
  const { token } = await res.json();
  if (!res.ok || !token) throw new Error(`verdaccio refused the user (${res.status})`);
  const npmrc = path.join(dir, 'npmrc');
  fs.writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
  return {
    url,
    npmrc,
    logs,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
