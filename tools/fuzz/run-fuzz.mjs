// Fuzzes the running API from the committed OpenAPI spec with schemathesis (examples, coverage,
// fuzzing and stateful phases): no 5xx, only documented status codes, every response body (each
// SSE event of the events stream included) valid against its schema. Loopback only, bounded.
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { startBuiltApi } from '../scripts/api-process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const examples = process.env.FUZZ_MAX_EXAMPLES ?? '25';
// Bounded waits: fuzzed `Prefer: wait=N` and /generate must not hold the run for minutes.
const api = await startBuiltApi({ T2V_MAX_WAIT_S: '3', T2V_SYNC_WAIT_S: '3', T2V_SYNTHETIC_STEP_MS: '1' });
const url = api.url;
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
      'not_a_server_error,status_code_conformance,response_schema_conformance',
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
  // The events stream, event by event, against the spec; and a wrong spec must fail on it.
  const sse = spawnSync(
    path.join(ROOT, 'tools/fuzz/.venv/bin/python'),
    ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', path.join(ROOT, 'tools/fuzz/test_sse_conformance.py')],
    { stdio: 'inherit', timeout: 2 * 60_000, env: { ...process.env, T2V_FUZZ_URL: url, NO_COLOR: '1' } },
  );
  if (status === 0) status = sse.status ?? 1;
} finally {
  api.stop();
}
process.exit(status);
