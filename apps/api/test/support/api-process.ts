import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

export const REPO = path.resolve(__dirname, '../../../..');
export const MAIN = path.join(REPO, 'dist/apps/api/main.js');
export const FAKE_WORKERS = path.join(REPO, 'apps/api/test/fake-workers');

export interface ApiProcess {
  url: string;
  dataDir: string;
  child: ChildProcess;
  logs: string[];
  /** SIGTERM, then waits for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, then waits for exit. */
  kill(): Promise<void>;
}

/**
 * Starts the built API (dist/apps/api/main.js) on a free loopback port and waits until it
 * listens (and, unless `waitReady` is false, until /readyz is 200).
 */
export async function startApi(
  env: Record<string, string> = {},
  opts: {
    dataDir?: string;
    waitReady?: boolean;
    timeoutMs?: number;
    wrap?: (argv: string[]) => string[];
  } = {},
): Promise<ApiProcess> {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx nx run api:build\` first`);
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 't2v-e2e-'));
  const [cmd, ...args] = opts.wrap ? opts.wrap([process.execPath, MAIN]) : [process.execPath, MAIN];
  const child = spawn(cmd!, args, {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? os.tmpdir(),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      T2V_DATA_DIR: dataDir,
      T2V_SYNTHETIC_STEP_MS: '5',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`API did not listen in time:\n${logs.join('\n')}`)),
      opts.timeoutMs ?? 30_000,
    );
    const onLine = (line: string) => {
      logs.push(line);
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${m[1]}`);
      }
    };
    readline.createInterface({ input: child.stdout! }).on('line', onLine);
    readline.createInterface({ input: child.stderr! }).on('line', (l) => logs.push(l));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`API exited with ${code} before listening:\n${logs.join('\n')}`));
    });
  });
  const api: ApiProcess = {
    url,
    dataDir,
    child,
    logs,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
  if (opts.waitReady !== false)
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, opts.timeoutMs ?? 30_000);
  return api;
}

/** Stops (SIGTERM, waiting for each exit) every process that is still running. */
export async function stopAll(...apis: Array<ApiProcess | null | undefined>): Promise<void> {
  await Promise.all(
    apis.map((a) => (a && a.child.exitCode === null && a.child.signalCode === null ? a.stop() : undefined)),
  );
}

/** Polls `check` every 50 ms until it returns true, or throws after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json, text };
}
