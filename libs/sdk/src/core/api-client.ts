import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';

import { APIConnectionError, APIError, APIUserAbortError, T2VError } from './errors.js';
import { isRetryableStatus, retryDelayMs } from './retry.js';
import { sleep } from './sleep.js';
import type { HttpMethod, Transport, TransportResponse } from './transport.js';
import type { MultipartBody } from './uploads.js';

/** Per-call options accepted by every resource method. */
export interface RequestOptions {
  /** Aborts the call, including waits between retries. */
  signal?: AbortSignal;
  /** Overrides the client's `timeout` (ms) for this call. */
  timeout?: number;
  /** Overrides the client's `maxRetries` for this call. */
  maxRetries?: number;
  /** Extra headers for this call; a `null` value removes a default header. */
  headers?: Record<string, string | null>;
  /** Extra query parameters for this call. */
  query?: Record<string, string | number | boolean | undefined>;
}

/** Everything the core needs to talk to the API; filled in by the `T2V` constructor. */
export interface CoreConfig {
  baseURL: string;
  apiKey: string | undefined;
  timeout: number;
  maxRetries: number;
  defaultHeaders: Record<string, string>;
  transport: Transport;
  userAgent: string;
}

/** A parsed JSON answer with the response metadata the caller may need. */
export interface APIResponse<T> {
  /** Parsed body. */
  data: T;
  /** HTTP status. */
  status: number;
  /** Lower-cased response headers. */
  headers: Record<string, string>;
  /** The server's `x-request-id`. */
  requestId: string | null;
}

/** What one call sends. */
export interface CallSpec {
  method: HttpMethod;
  path: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  /** A `multipart/form-data` body, sent instead of `body` (uploads). */
  multipart?: MultipartBody;
  headers?: Record<string, string>;
  /** Set on creates: one key for the call, reused by every retry of it. */
  idempotent?: boolean;
  /** The body is read incrementally; the timeout bounds only the wait for headers and idle gaps. */
  stream?: boolean;
  /** Overrides the `accept` header. */
  accept?: string;
}

/**
 * The request pipeline shared by all resources: URL and headers, serialisation, retries with
 * backoff, and mapping of non-2xx answers to typed errors. Resources never see the transport.
 */
export class APIClient {
  constructor(private readonly config: CoreConfig) {}

  /** The base URL requests go to, without a trailing slash. */
  get baseURL(): string {
    return this.config.baseURL;
  }

  /** Sends a call and parses its JSON answer. */
  async json<T>(spec: CallSpec, options: RequestOptions = {}): Promise<APIResponse<T>> {
    const response = await this.send(spec, options);
    let text: string;
    try {
      text = await readText(response.body);
    } catch (error) {
      throw toClientError(error, options.signal);
    }
    let data: unknown;
    try {
      data = text === '' ? undefined : JSON.parse(text);
    } catch (error) {
      throw new APIError(
        response.status,
        undefined,
        `Invalid JSON in response: ${text.slice(0, 200)}`,
        response.headers,
        {
          cause: error,
        },
      );
    }
    return {
      data: data as T,
      status: response.status,
      headers: response.headers,
      requestId: response.headers['x-request-id'] ?? null,
    };
  }

  /** Sends a call and hands back the 2xx response with its body unread. */
  async send(spec: CallSpec, options: RequestOptions = {}): Promise<TransportResponse> {
    const maxRetries = options.maxRetries ?? this.config.maxRetries;
    const timeoutMs = options.timeout ?? this.config.timeout;
    const url = this.buildURL(spec.path, { ...spec.query, ...options.query });
    const headers = this.buildHeaders(spec, options);
    const body = spec.multipart
      ? spec.multipart.body
      : spec.body === undefined
        ? undefined
        : JSON.stringify(spec.body);

    for (let retriesSoFar = 0; ; retriesSoFar++) {
      if (options.signal?.aborted) throw new APIUserAbortError();
      let response: TransportResponse;
      try {
        response = await this.config.transport({
          method: spec.method,
          url,
          headers,
          body,
          timeoutMs,
          stream: spec.stream ?? false,
          signal: options.signal,
        });
      } catch (error) {
        const mapped = toClientError(error, options.signal);
        if (mapped instanceof APIUserAbortError || retriesSoFar >= maxRetries) throw mapped;
        await sleep(retryDelayMs(retriesSoFar, undefined), options.signal);
        continue;
      }
      if (response.status >= 200 && response.status < 300) return response;

      if (retriesSoFar < maxRetries && isRetryableStatus(response.status, response.headers)) {
        response.body.resume(); // let the connection be reused
        await sleep(retryDelayMs(retriesSoFar, response.headers), options.signal);
        continue;
      }
      const text = await readText(response.body).catch(() => '');
      throw APIError.generate(response.status, parseMaybeJSON(text), response.headers);
    }
  }

  private buildURL(path: string, query: Record<string, unknown>): string {
    const url = new URL(this.config.baseURL + path);
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  private buildHeaders(spec: CallSpec, options: RequestOptions): Record<string, string> {
    const merged: Record<string, string | null> = {
      accept: spec.accept ?? 'application/json',
      'user-agent': this.config.userAgent,
    };
    if (this.config.apiKey) merged['authorization'] = `Bearer ${this.config.apiKey}`;
    if (spec.multipart) merged['content-type'] = spec.multipart.contentType;
    else if (spec.body !== undefined) merged['content-type'] = 'application/json';
    if (spec.idempotent) merged['idempotency-key'] = `t2v-sdk-${randomUUID()}`;
    for (const source of [this.config.defaultHeaders, spec.headers ?? {}, options.headers ?? {}]) {
      for (const [name, value] of Object.entries(source)) merged[name.toLowerCase()] = value;
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(merged)) if (value !== null) out[name] = value;
    return out;
  }
}

/** Maps anything thrown while talking to the server to the client's error classes. */
export function toClientError(error: unknown, signal: AbortSignal | undefined): APIError {
  if (signal?.aborted)
    return error instanceof APIUserAbortError ? error : new APIUserAbortError(undefined, { cause: error });
  if (error instanceof APIError) return error;
  if (error instanceof T2VError) return new APIConnectionError(error.message, { cause: error });
  const detail = error instanceof Error ? error.message : String(error);
  return new APIConnectionError(`Connection error: ${detail}`, { cause: error });
}

/** Reads a whole body as UTF-8. */
export async function readText(body: Readable | AsyncIterable<Uint8Array | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

function parseMaybeJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
