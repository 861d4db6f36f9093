// Fuzzes the running API from the committed OpenAPI spec with schemathesis (examples, coverage,
// fuzzing and stateful phases): no 5xx, only documented status codes. Loopback only, bounded.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const examples = process.env.FUZZ_MAX_EXAMPLES ?? '25';
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-fuzz-'));

const api = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api/main.js')], {
  env: {
    PATH: process.env.PATH,
    PORT: '0',
    HOST: '127.0.0.1',
    T2V_DATA_DIR: dataDir,
    // Bounded waits: fuzzed `Prefer: wait=N` and /generate must not hold the run for minutes.
    T2V_MAX_WAIT_S: '3',
    T2V_SYNC_WAIT_S: '3',
    T2V_SYNTHETIC_STEP_MS: '1',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve, reject) => {
  api.once('exit', (code) => reject(new Error(`API exited with ${code}`)));
  readline.createInterface({ input: api.stdout }).on('line', (line) => {
    const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
    if (m) resolve(`http://127.0.0.1:${m[1]}`);
  });
});
let status = 1;
try {
  const r = spawnSync(
    path.join(ROOT, 'tools/fuzz/.venv/bin/st'),
    [
      'run',
      path.join(ROOT, 'libs/sdk/openapi/openapi.json'),
      '--url',
      url,
      '--checks',
      'not_a_server_error,status_code_conformance',
      '--max-examples',
      examples,
      '--workers',
      '2',
      '--request-timeout',
      '20',
      '--exclude-path',
      '/metrics',
      '--report',
      'junit',
      '--report-dir',
      path.join(ROOT, 'tmp/fuzz'),
    ],
    { stdio: 'inherit', timeout: 10 * 60_000, env: { ...process.env, NO_COLOR: '1' } },
  );
  status = r.status ?? 1;
} finally {
  api.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
}
process.exit(status);
