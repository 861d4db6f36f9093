// Starts the built API (dist/apps/api/main.js) on a free loopback port for tools (benchmarks,
// fuzzing) and waits for /readyz. Tests have their own TypeScript twin in apps/api/test/support.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { ROOT } from './prereqs.mjs';

export async function startBuiltApi(env = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-tool-'));
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api/main.js')], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', T2V_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`API exited with ${code} before listening`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
  });
  for (let i = 0; i < 400; i++) {
    if ((await fetch(`${url}/readyz`)).status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop() {
      child.kill('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
