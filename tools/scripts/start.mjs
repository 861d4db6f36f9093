// `npm start`: install what is missing, build, serve (synthetic engine, embedded queue by default).
// With T2V_ENGINE=wan or wan-tiny it also sets up the Python worker's environment. Once the API is
// ready it prints one line with the playground, Swagger UI and API addresses.
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { ensureNodeModules, fail, has, log, ROOT, run } from './prereqs.mjs';

const PYTHON_ENGINES = ['wan', 'wan-tiny'];
const SETUP_COMMAND = 'npx nx run worker:setup';

ensureNodeModules();
const engine = process.env.T2V_ENGINE || 'synthetic';
// An explicit interpreter or worker command is the user's own environment: left alone.
if (PYTHON_ENGINES.includes(engine) && !process.env.T2V_PYTHON && !process.env.T2V_WORKER_COMMAND) {
  ensureWorkerEnvironment();
}
log('building the API, the playground page and the CLI…');
run(
  process.execPath,
  [
    path.join(ROOT, 'node_modules/nx/dist/bin/nx.js'),
    'run-many',
    '-t',
    'build',
    '-p',
    'api',
    'web',
    'cli',
    '--output-style=stream',
  ],
  {
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  },
);
// The API runs in its own process group, so a signal reaches it once, from here: Ctrl-C in a terminal
// signals the whole foreground group, and `npm start` relays it as well. The API takes a second
// signal as "exit now" and skips draining, so copies arriving together are forwarded once.
// The IPC channel is the API's lifeline to this process: when this process dies without a word
// (SIGKILL from an IDE's stop button or a supervisor), the channel closes and the API drains and
// exits instead of holding the port, the data directory and its workers.
const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api/main.js')], {
  cwd: ROOT,
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  detached: true,
});
child.channel?.unref();
let lastForwarded = 0;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (Date.now() - lastForwarded < 1000) return;
    lastForwarded = Date.now();
    child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  });
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
void announceWhenReady();

/**
 * The Python engines run apps/worker's venv (torch, diffusers, transformers). The setup script is
 * idempotent and quick when the venv matches the lock files; the first time it downloads several
 * GB, so pip's own progress is shown. Without a usable Python it stops here, naming the command.
 */
function ensureWorkerEnvironment() {
  const python = 'python3';
  if (!has(python)) {
    fail(
      `T2V_ENGINE=${engine} runs the Python worker, and ${python} is not installed. Install Python 3.10–3.12, ` +
        `then run \`${SETUP_COMMAND}\` (or \`npm start\` again); T2V_PYTHON names another interpreter.`,
    );
  }
  log(
    `T2V_ENGINE=${engine} runs the Python worker: checking its environment (apps/worker/.venv, ` +
      `\`${SETUP_COMMAND}\`). The first time this downloads torch and diffusers, several GB.`,
  );
  const r = spawnSync('bash', [path.join(ROOT, 'apps/worker/scripts/setup-venv.sh')], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, T2V_SETUP_PROGRESS: '1' },
  });
  if (r.status !== 0) {
    fail(
      `setting up the worker's Python environment failed (exit ${r.status ?? r.signal}); fix the error above ` +
        `and run \`${SETUP_COMMAND}\`, or start without T2V_ENGINE for the synthetic engine.`,
    );
  }
}

/** Polls /readyz; prints one line with the three addresses once ready, or why it cannot be. */
async function announceWhenReady() {
  const port = process.env.PORT || '8080';
  const host = ['', '0.0.0.0', '::', '[::]'].includes(process.env.HOST ?? '')
    ? 'localhost'
    : process.env.HOST;
  const base = `http://${host}:${port}`;
  const probe = `http://${host === 'localhost' ? '127.0.0.1' : host}:${port}/readyz`;
  for (;;) {
    await new Promise((r) => setTimeout(r, 300).unref());
    let res;
    try {
      res = await fetch(probe, { signal: AbortSignal.timeout(5000) });
    } catch {
      continue; // not listening yet
    }
    const body = await res.json().catch(() => null);
    if (res.status === 200) {
      log(`ready (${engine}): playground ${base}/  ·  Swagger UI ${base}/docs  ·  API ${base}/v1`);
      return;
    }
    // A worker that cannot start and will not be retried: say so once, and stop waiting.
    const workers = body?.details?.workers?.workers ?? body?.error?.workers?.workers ?? [];
    const stuck = workers.find((w) => w.permanent);
    if (stuck && workers.every((w) => w.permanent)) {
      log(`not ready: worker ${stuck.id} cannot start: ${stuck.reason}`);
      log(`serving anyway: playground ${base}/  ·  Swagger UI ${base}/docs  ·  API ${base}/v1`);
      return;
    }
  }
}
