import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** The API's logger: pino (Fastify's own), one JSON object per line. */
export type Log = Logger;

const REDACTED = '[redacted]';
/** Headers whose values never reach a log line. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);
/** A bearer credential written anywhere in a line (a message quoting a header, an error text). */
const BEARER = /(\bBearer\s+)[^\s"',;]+/gi;
/**
 * The query of any URL in a line: presigned URLs (S3's X-Amz-Signature, GCS's X-Goog-Signature,
 * Azure's sig) and webhook URLs with a token carry their credential there. Parameter names stay.
 */
const URL_QUERY = /(\bhttps?:\/\/[^\s"'?#]*\?)([^\s"'#]*)/gi;

/** `a=1&b=2` → `a=[redacted]&b=[redacted]`. */
function redactQuery(_match: string, head: string, query: string): string {
  const params = query
    .split('&')
    .map((p) => (p === '' ? p : `${p.split('=')[0]}=${REDACTED}`))
    .join('&');
  return head + params;
}

/**
 * Removes credentials from one serialized log line: the configured secrets wherever they appear
 * (API keys, the webhook signing secret, Redis passwords), bearer tokens, and URL query values.
 * Cheap when there is nothing to remove (a few substring checks), as on an access-log line.
 */
export function redactor(secrets: readonly string[]): (line: string) => string {
  // Short values would blank out ordinary words; a secret this short is no secret anyway. Each is
  // looked for as written and as JSON escapes it inside a line (a quote or backslash in it).
  const known = [
    ...new Set(secrets.filter((s) => s.length >= 6).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)])),
  ].sort((a, b) => b.length - a.length);
  return (line) => {
    for (const s of known) if (line.includes(s)) line = line.split(s).join(REDACTED);
    if (line.includes('earer') || line.includes('EARER')) line = line.replace(BEARER, `$1${REDACTED}`);
    if (line.includes('://')) line = line.replace(URL_QUERY, redactQuery);
    return line;
  };
}

/** Request or response headers with their credentials replaced. */
function headersSerializer(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object') return headers;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = SECRET_HEADERS.has(k.toLowerCase()) ? REDACTED : v;
  return out;
}

export interface LoggerOptions {
  level: LogLevel | 'silent';
  /** Values that must never appear in a line (configured keys, secrets, passwords). */
  secrets?: readonly string[];
  /** Where lines go: stdout (asynchronously, flushed at exit) by default. */
  destination?: DestinationStream;
}

/**
 * The root logger: ISO time, level names (`"level":"warn"`), errors with their stack and cause
 * (`err`), header credentials replaced, and every line passed through `redactor` on its way out.
 */
export function createLogger(options: LoggerOptions): Log {
  const out = options.destination ?? pino.destination({ dest: 1, sync: false });
  const redact = redactor(options.secrets ?? []);
  const stream: DestinationStream = { write: (line: string) => out.write(redact(line)) };
  return pino(
    {
      level: options.level,
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: {
        err: pino.stdSerializers.errWithCause,
        headers: headersSerializer,
      },
    },
    stream,
  );
}

let root: Log | null = null;

/** Makes `log` the root of every logger made from now on (main.ts, once the config is read). */
export function setRootLogger(log: Log): void {
  root = log;
}

/** The root logger (until main.ts sets one: info level to stdout). */
export function rootLogger(): Log {
  return (root ??= createLogger({ level: 'info' }));
}

/** The logger of one part of the API: its lines carry `context`. */
export function appLogger(context: string): Log {
  return rootLogger().child({ context });
}

/**
 * Nest's own messages (module start-up, route table, errors it catches) as lines of `log`. Nest
 * passes the context as the last argument, and for errors a stack before it.
 */
export class NestLogger implements LoggerService {
  constructor(private readonly out: Log) {}

  private write(level: LogLevel, message: unknown, params: unknown[]): void {
    const context = typeof params[params.length - 1] === 'string' ? params.pop() : undefined;
    const fields: Record<string, unknown> = context === undefined ? {} : { context };
    if (level === 'error' && typeof params[0] === 'string' && params[0].includes('\n'))
      fields['stack'] = params[0];
    if (message instanceof Error) this.out[level]({ ...fields, err: message }, message.message);
    else if (message !== null && typeof message === 'object') this.out[level]({ ...fields, ...message });
    else this.out[level](fields, String(message));
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
}
