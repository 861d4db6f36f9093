import { T2V } from '@t2v/sdk';

import type { CliIO, OutputStream } from '../io.js';
import { run } from '../program.js';
import { fakeApi, type FakeApiOptions } from './fake-api.js';

/** A stream that remembers what was written. */
export function captureStream(isTTY = false): OutputStream & { text: () => string } {
  let text = '';
  return { isTTY, columns: 100, write: (chunk: string) => (text += chunk), text: () => text };
}

/** Runs `t2v argv` in-process against a fresh fake API; returns exit code and output. */
export async function runCli(
  argv: string[],
  options: FakeApiOptions & {
    env?: Record<string, string>;
    api?: ReturnType<typeof fakeApi>;
    signal?: AbortSignal;
  } = {},
) {
  const api = options.api ?? fakeApi(options);
  const stdout = captureStream();
  const stderr = captureStream();
  const io: CliIO = {
    stdout,
    stderr,
    env: options.env ?? {},
    signal: options.signal,
    createClient: (clientOptions) => new T2V({ ...clientOptions, transport: api.transport }),
  };
  const code = await run(argv, io);
  return { code, stdout: stdout.text(), stderr: stderr.text(), api };
}
