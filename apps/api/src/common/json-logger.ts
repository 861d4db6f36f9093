import type { LoggerService } from '@nestjs/common';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/**
 * One JSON object per line on stdout. Lines written in one event-loop turn go out in one write (a
 * write per request line costs more than the request). Request lines carry their `request_id`
 * explicitly: tracking it implicitly (AsyncLocalStorage) slows every promise on Node 20 (ADR 0024).
 */
export class JsonLogger implements LoggerService {
  private buffer: string[] = [];

  constructor(private readonly level: LogLevel = 'info') {
    process.once('exit', () => this.flush());
  }

  private flush = (): void => {
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('');
    this.buffer = [];
    process.stdout.write(text);
  };

  private write(level: LogLevel, message: unknown, context?: unknown, extra?: Record<string, unknown>): void {
    if (LEVELS[level] < LEVELS[this.level]) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message };
    if (typeof context === 'string') line['context'] = context;
    this.buffer.push(JSON.stringify({ ...line, ...extra }) + '\n');
    if (this.buffer.length === 1) setImmediate(this.flush);
  }

  log(message: unknown, context?: unknown): void {
    this.write('info', message, context);
  }
  error(message: unknown, stackOrContext?: unknown, context?: unknown): void {
    const stack =
      typeof stackOrContext === 'string' && stackOrContext.includes('\n') ? stackOrContext : undefined;
    this.write(
      'error',
      message,
      stack ? context : (context ?? stackOrContext),
      stack ? { stack } : undefined,
    );
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
