import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The workspace root. (Each project keeps its own copy of this helper: test code is not shared.) */
export const WORKSPACE_ROOT = resolve(__dirname, '../../..');

/** A running API process (synthetic engine) on a loopback port. */
export interface LiveApi {
  url: string;
  logs: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts the built API (`dist/apps/api/main.js`, which serves the built page at `/`) on a free
 * loopback port with its own data dir, and waits until it says where it listens.
 */
export async function startApi(env: Record<string, string> = {}, timeoutMs = 30_000): Promise<LiveApi> {
  const main = join(WORKSPACE_ROOT, 'dist/apps/api/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx nx run api:build\` first.`);
  const dataDir = mkdtempSync(join(tmpdir(), 't2v-web-e2e-'));
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [main], {
    cwd: WORKSPACE_ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      T2V_DATA_DIR: dataDir,
      T2V_STORAGE_DIR: join(dataDir, 'videos'),
      T2V_API_KEYS: '',
      // A test that ends with a job still running should not wait out the default 30 s drain.
      T2V_SHUTDOWN_GRACE_S: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`API did not listen within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on http:\/\/[^:\s]+:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        done(`http://127.0.0.1:${m[1]}`);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => {
      clearTimeout(timer);
      fail(new Error(`API exited before listening:\n${output}`));
    });
  });
  const api: LiveApi = {
    url,
    logs: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  const page = await fetch(`${url}/`).catch(() => undefined);
  if (!page?.ok || !page.headers.get('content-type')?.startsWith('text/html')) {
    await api.stop();
    throw new Error(
      `The API does not serve the playground at / (status ${page?.status}): build it (\`npx nx run web:build\`) ` +
        'and import WebModule.serve() in apps/api/src/app.module.ts.',
    );
  }
  return api;
}
