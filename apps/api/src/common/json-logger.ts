import { AsyncLocalStorage } from 'node:async_hooks';

import type { LoggerService } from '@nestjs/common';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/** Request id of the request being served, for log lines written while serving it. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/** One JSON object per line on stdout, with the request id when there is one. */
export class JsonLogger implements LoggerService {
  constructor(private readonly level: LogLevel = 'info') {}

  private write(level: LogLevel, message: unknown, context?: unknown, extra?: Record<string, unknown>): void {
    if (LEVELS[level] < LEVELS[this.level]) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message };
    if (typeof context === 'string') line['context'] = context;
    const requestId = requestContext.getStore()?.requestId;
    if (requestId) line['request_id'] = requestId;
    process.stdout.write(JSON.stringify({ ...line, ...extra }) + '\n');
  }

  log(message: unknown, context?: unknown): void {
    this.write('info', message, context);
  }
  error(message: unknown, stackOrContext?: unknown, context?: unknown): void {
    const stack = typeof stackOrContext === 'string' && stackOrContext.includes('\n') ? stackOrContext : undefined;
    this.write('error', message, stack ? context : (context ?? stackOrContext), stack ? { stack } : undefined);
  }
  warn(message: unknown, context?: unknown): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: unknown): void {
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: unknown): void {
    this.write('debug', message, context);
  }
  /** An access-log line. */
  access(fields: Record<string, unknown>): void {
    this.write('info', 'request', 'http', fields);
  }
}
