// `npm start` as a newcomer meets it: the one ready line and its three addresses, the README's CLI
// line run as written, Ctrl-C, a SIGKILL of npm start itself; the Python engine with its venv,
// with a missing module (reported once, not retried) or with no Python at all (stops at once,
// naming the setup command).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { after, describe, it } from 'node:test';

import { ROOT } from '../prereqs.mjs';
import { freePort } from '../free-port.mjs';

const START = path.join(ROOT, 'tools/scripts/start.mjs');
const running = new Set();

after(async () => {
  await Promise.all([...running].map((s) => s.stop()));
});

/** `npm start` (the script it runs) with a fresh data directory on a free port; its output by line. */
async function npmStart(env = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-start-'));
  const port = await freePort();
  const child = spawn(process.execPath, [START], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      T2V_DATA_DIR: dataDir,
      T2V_SYNTHETIC_STEP_MS: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so stop() reaches the API it started as well
  });
  const lines = [];
  const waiters = [];
  const onLine = (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (!w.re.test(line)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  };
  readline.createInterface({ input: child.stdout }).on('line', onLine);
  readline.createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const server = {
    pid: child.pid,
    port,
    lines,
    exited,
    /** The first line (seen or to come) matching `re`. */
    line(re, timeoutMs) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`no line matching ${re} in ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`)),
          timeoutMs,
        );
        waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`npm start exited (${code}) before ${re}:\n${lines.slice(-30).join('\n')}`));
        });
      });
    },
    async stop() {
      running.delete(server);
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        const timer = setTimeout(() => {
          // The API runs in a process group of its own: kill it by pid, then npm start.
          let pids = [];
          try {
            pids = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).split(/\s+/);
          } catch {
            /* no children */
          }
          for (const pid of [...pids.filter(Boolean).map((p) => -Number(p)), -child.pid]) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              /* gone */
            }
          }
        }, 15_000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  running.add(server);
  return server;
}

/** The pids of a process's children. */
function childrenOf(pid) {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // none
  }
}

/** Whether a process still runs (a zombie waiting for its new parent to reap it does not). */
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still runs after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Splits a README command line into argv (double-quoted words, as the README writes them). */
function shellWords(line) {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

describe('npm start', () => {
  it('prints one ready line whose three addresses answer, and the README CLI line works as written', async () => {
    const server = await npmStart();
    const ready = await server.line(/\[t2v\] ready/, 240_000);
    const m = /ready \(synthetic\): playground (\S+)\s+·\s+Swagger UI (\S+)\s+·\s+API (\S+)$/.exec(ready);
    assert.ok(m, ready);
    const [, playground, docs, apiBase] = m;
    assert.equal(playground, `http://127.0.0.1:${server.port}/`);
    assert.equal(server.lines.filter((l) => l.includes('[t2v] ready')).length, 1);

    const page = await fetch(playground);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /id="model-info"/);
    const swagger = await fetch(docs);
    assert.equal(swagger.status, 200);
    assert.match(swagger.headers.get('content-type') ?? '', /text\/html/);
    const models = await (await fetch(`${apiBase}/models`)).json();
    assert.equal(models.data[0].engine, 'synthetic');

    // The README's CLI line, verbatim, from a directory that looks like the repository root.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const cliLine = /`(node apps\/cli\/dist\/main\.js generate [^`]+)`/.exec(readme)?.[1];
    assert.ok(cliLine, 'README names the CLI line');
    const [cmd, ...args] = shellWords(cliLine);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-readme-'));
    fs.symlinkSync(path.join(ROOT, 'apps'), path.join(work, 'apps'));
    const out = execFileSync(cmd === 'node' ? process.execPath : cmd, args, {
      cwd: work,
      env: { ...process.env, T2V_BASE_URL: `http://127.0.0.1:${server.port}` },
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'], // its progress bar goes to stderr
    });
    const output = args[args.indexOf('-o') + 1];
    assert.equal(out.trim(), path.join(work, output));
    const codec = execFileSync(
      'ffprobe',
      [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=codec_name',
        '-of',
        'csv=p=0',
        output,
      ],
      { cwd: work, encoding: 'utf8' },
    );
    assert.equal(codec.trim(), 'h264');
    fs.rmSync(work, { recursive: true, force: true });

    // Ctrl-C: the terminal signals npm start's process group, and npm relays the signal too.
    process.kill(-server.pid, 'SIGINT');
    process.kill(-server.pid, 'SIGINT');
    assert.equal(await server.exited, 0);
    const log = server.lines.join('\n');
    assert.match(log, /SIGINT: draining/);
    assert.match(log, /"stopped"|stopped/);
    assert.doesNotMatch(log, /again: exiting now/);
    await server.stop();
  });

  it('killed with SIGKILL, it leaves no API and no worker behind: the API drains and exits', async () => {
    const server = await npmStart();
    await server.line(/\[t2v\] ready/, 240_000);
    const [api] = childrenOf(server.pid);
    assert.ok(api, 'npm start runs the API as its child');
    const workers = childrenOf(api);
    assert.ok(workers.length > 0, 'the API runs a worker');
    // A job in flight, so the drain has something to finish.
    const created = await fetch(`http://127.0.0.1:${server.port}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a launcher that vanishes', seconds: 1 }),
    });
    assert.equal(created.status, 200);

    process.kill(server.pid, 'SIGKILL'); // npm start alone, as an IDE's stop button or kill -9 does
    await server.exited;
    try {
      for (const pid of [api, ...workers]) await waitGone(pid, 60_000);
    } finally {
      // Whatever happened, nothing this test started outlives it.
      for (const pid of [api, ...workers]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await server.line(/launcher gone: draining/, 1000);
    await server.line(/"msg":"stopped"/, 1000);
    // The port is free again.
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
    await server.stop();
  });

  it('T2V_ENGINE=wan-tiny: checks the worker venv, loads the real pipeline, says so in one ready line', async () => {
    const server = await npmStart({ T2V_ENGINE: 'wan-tiny', T2V_WORKER_STARTUP_TIMEOUT_S: '600' });
    // The venv exists (this target depends on worker:setup), so the check is quick and says so.
    await server.line(/setup-venv: .* is up to date/, 120_000);
    const ready = await server.line(/\[t2v\] ready/, 600_000);
    assert.match(ready, /ready \(wan-tiny\): playground http:\/\/127\.0\.0\.1:\d+\//);
    const models = await (await fetch(`http://127.0.0.1:${server.port}/v1/models`)).json();
    assert.deepEqual([models.data[0].id, models.data[0].engine], ['wan-tiny-random', 'wan-tiny']);
    await server.stop();
  });

  it('T2V_ENGINE=wan-tiny with torch unimportable: says so once, names the fix, never restarts the worker', async () => {
    // An interpreter on which `import torch` fails, whatever this machine has installed.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-notorch-'));
    fs.mkdirSync(path.join(dir, 'shim/torch'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'shim/torch/__init__.py'),
      `raise ModuleNotFoundError("No module named 'torch'", name='torch')\n`,
    );
    const python = path.join(dir, 'python');
    fs.writeFileSync(python, `#!/bin/sh\nPYTHONPATH="${dir}/shim:$PYTHONPATH" exec python3 "$@"\n`, {
      mode: 0o755,
    });
    const server = await npmStart({ T2V_ENGINE: 'wan-tiny', T2V_PYTHON: python });
    const line = await server.line(/\[t2v\] not ready/, 240_000);
    assert.match(line, /worker cpu-0 cannot start: .*No module named 'torch'.*npx nx run worker:setup/);
    await server.line(/\[t2v\] serving anyway: playground/, 1000);
    await new Promise((r) => setTimeout(r, 2000)); // four backoff periods of a transient failure
    const ready = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    assert.equal(ready.status, 503);
    const [worker] = (await ready.json()).details.workers.workers;
    assert.equal(worker.state, 'FAILED');
    assert.equal(worker.permanent, true);
    assert.equal(worker.restarts, 0);
    assert.equal(server.lines.filter((l) => l.includes('will not be restarted')).length, 1);
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('T2V_ENGINE=wan-tiny without python3 stops at once and names the setup command', async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-nopython-'));
    for (const tool of ['sh', 'bash', 'npm']) {
      const found = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      fs.symlinkSync(found, path.join(bin, tool));
    }
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const server = await npmStart({ T2V_ENGINE: 'wan-tiny', PATH: bin });
    const code = await server.exited;
    assert.equal(code, 1);
    assert.match(server.lines.join('\n'), /python3 is not installed.*`npx nx run worker:setup`/);
    await server.stop();
    fs.rmSync(bin, { recursive: true, force: true });
  });
});
