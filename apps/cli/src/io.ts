import type { T2V } from '@t2v/sdk';

/** A writable text stream as the CLI needs it (a TTY or a pipe). */
export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Everything the CLI touches outside itself, injected so tests run it in-process. */
export interface CliIO {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
  /** Aborted on Ctrl-C: long commands stop, and `generate` cancels its job. */
  signal?: AbortSignal;
  /** Builds the SDK client; tests may point it elsewhere. Defaults to `new T2V(options)`. */
  createClient?: (options: ConstructorParameters<typeof T2V>[0]) => T2V;
}

/** Options every command shares. */
export interface GlobalOptions {
  baseUrl?: string;
  apiKey?: string;
  timeout?: number;
  json?: boolean;
  quiet?: boolean;
}
