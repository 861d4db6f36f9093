import { APIConnectionError, APIError, APIUserAbortError } from '@t2v/sdk';

import { ExitCode, type ExitCodeValue } from './exit-codes.js';
import type { CliIO } from './io.js';

/** A failure the CLI reports with its own message and exit code (e.g. a failed video). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Maps an error to the documented exit code. */
export function exitCodeFor(error: unknown): ExitCodeValue {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof APIUserAbortError) return ExitCode.INTERRUPTED;
  if (error instanceof APIConnectionError) return ExitCode.CONNECTION;
  if (error instanceof APIError && error.status !== undefined) {
    if (error.status === 401 || error.status === 403) return ExitCode.AUTH;
    if (error.status === 404) return ExitCode.NOT_FOUND;
    if (error.status === 429 || error.status >= 500) return ExitCode.SERVER;
    return ExitCode.REQUEST_REJECTED;
  }
  return ExitCode.ERROR;
}

/**
 * Prints an error to stderr: the API's message as is on the first line, then what a bug report
 * needs (status, code, param, request id). With `--json`, one JSON object instead.
 */
export function reportError(error: unknown, io: CliIO, json: boolean): ExitCodeValue {
  const code = exitCodeFor(error);
  const message = error instanceof Error ? error.message : String(error);
  const details: Record<string, unknown> = {};
  if (error instanceof APIError) {
    if (error.status !== undefined) details['status'] = error.status;
    if (error.type) details['type'] = error.type;
    if (error.code) details['code'] = error.code;
    if (error.param) details['param'] = error.param;
    if (error.requestId) details['request_id'] = error.requestId;
  }
  if (error instanceof CliError && error.details) Object.assign(details, error.details);
  if (json) {
    io.stderr.write(`${JSON.stringify({ error: { message, ...details }, exit_code: code })}\n`);
    return code;
  }
  io.stderr.write(`t2v: ${message}\n`);
  const parts = Object.entries(details).map(([k, v]) => `${k.replace('_', ' ')} ${String(v)}`);
  if (parts.length > 0) io.stderr.write(`     (${parts.join(', ')})\n`);
  return code;
}
