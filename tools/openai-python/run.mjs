// The official `openai` Python package against the built API (synthetic engine, an API key
// required) on a loopback port: create, retrieve, poll, list, download, delete, errors.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startBuiltApi } from '../scripts/api-process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KEY = 'sk-t2v-openai-python-test';
const api = await startBuiltApi({ T2V_API_KEYS: KEY, T2V_SYNTHETIC_STEP_MS: '2' });
let status = 1;
try {
  const r = spawnSync(
    path.join(ROOT, 'tools/openai-python/.venv/bin/python'),
    ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', path.join(ROOT, 'tools/openai-python')],
    { stdio: 'inherit', timeout: 5 * 60_000, env: { ...process.env, T2V_URL: api.url, T2V_KEY: KEY } },
  );
  status = r.status ?? 1;
} finally {
  api.stop();
}
process.exit(status);
