// Starts the built API (dist/apps/api/main.js), or another Node server script, on a free loopback
// port for tools (benchmarks, fuzzing). Tests have their own TypeScript twin in apps/api/test/support.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { ROOT } from './prereqs.mjs';

/**
 * Runs a Node server script in its own process with a fresh data directory and waits for the line
 * it prints when listening (`listening on http://host:port`, as the API and the benchmark
 * baselines do). `stop()` kills it and removes the directory.
 */
export async function startNodeServer(script, env = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-tool-'));
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', T2V_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
  });
  return {
    url,
    stop() {
      child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The built API (dist/apps/api/main.js, or another build's), once /readyz answers 200. */
export async function startBuiltApi(env = {}, script = path.join(ROOT, 'dist/apps/api/main.js')) {
  const server = await startNodeServer(script, env);
  for (let i = 0; i < 400; i++) {
    if ((await fetch(`${server.url}/readyz`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return server;
}
