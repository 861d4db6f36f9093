import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { childStopper } from './stop-child.js';
import { WORKSPACE_ROOT } from './workspace-root.js';

export { WORKSPACE_ROOT };

/** A running API process (synthetic engine unless `env` says otherwise) on a loopback port. */
export interface LiveApi {
  url: string;
  /** Everything the process wrote, for failure messages. */
  logs: () => string;
  /** SIGTERM (SIGKILL after 10 s), then removes the data directory. */
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts the built API (`dist/apps/api/main.js`; build it first with `npx nx run api:build`) on a
 * free loopback port with its own data directory, waits until `/readyz` answers 200 (bounded by
 * `readyTimeoutMs`), and returns a handle that stops it. Keys are off and a stop drains for at
 * most a second, so a test that ends with a job still running does not wait out the default grace.
 */
export async function startApi(env: Record<string, string> = {}, readyTimeoutMs = 30_000): Promise<LiveApi> {
  const main = join(WORKSPACE_ROOT, 'dist/apps/api/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npx nx run api:build first.`);
  const dataDir = mkdtempSync(join(tmpdir(), 't2v-live-api-'));
  const port = await freePort();
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [main], {
    cwd: dataDir,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      T2V_DATA_DIR: dataDir,
      T2V_STORAGE_DIR: join(dataDir, 'videos'),
      T2V_SYNTHETIC_STEP_MS: '20',
      T2V_SHUTDOWN_GRACE_S: '1',
      LOG_LEVEL: 'warn',
      T2V_API_KEYS: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const stopChild = childStopper(child);

  const stop = async () => {
    await stopChild();
    rmSync(dataDir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`API exited with ${child.exitCode} before it was ready:\n${output}`);
    }
    try {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`API not ready within ${readyTimeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, logs: () => output, stop };
}
