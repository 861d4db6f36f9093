import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';

import got, { type Request } from 'got';

import { APIConnectionError, APITimeoutError, APIUserAbortError } from './errors.js';
import type { Transport, TransportRequest, TransportResponse } from './transport.js';

/** Options of the default got-based transport. */
export interface GotTransportOptions {
  /** Keep-alive or proxy agents, as got's `agent` option takes them. */
  agent?: { http?: HttpAgent; https?: HttpsAgent };
}

/**
 * The default {@link Transport}: got in stream mode, with got's own retries, redirects-to-errors and
 * HTTP-error throwing turned off, because the client core does retries and error mapping itself.
 */
export function createGotTransport(options: GotTransportOptions = {}): Transport {
  return (request: TransportRequest) => send(request, options);
}

function send(request: TransportRequest, options: GotTransportOptions): Promise<TransportResponse> {
  return new Promise<TransportResponse>((resolve, reject) => {
    let stream: Request;
    try {
      stream = got.stream(request.url, {
        method: request.method,
        headers: request.headers,
        // A got stream with a method that allows a body waits for one to be written; send an
        // empty one instead so that e.g. `POST /cancel` goes out at once with content-length 0.
        body: request.body ?? (request.method === 'GET' ? undefined : ''),
        throwHttpErrors: false,
        retry: { limit: 0 },
        decompress: true,
        followRedirect: true,
        agent: options.agent,
        signal: request.signal,
        timeout: request.stream
          ? { response: request.timeoutMs, socket: request.timeoutMs }
          : { request: request.timeoutMs },
      });
    } catch (error) {
      reject(mapError(error, request));
      return;
    }
    let settled = false;
    stream.once(
      'response',
      (response: { statusCode: number; headers: Record<string, string | string[] | undefined> }) => {
        settled = true;
        resolve({ status: response.statusCode, headers: flattenHeaders(response.headers), body: stream });
      },
    );
    stream.once('error', (error: unknown) => {
      if (settled) return; // surfaced to whoever reads the body
      settled = true;
      reject(mapError(error, request));
    });
  });
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function mapError(error: unknown, request: TransportRequest): Error {
  if (request.signal?.aborted) return new APIUserAbortError(undefined, { cause: error });
  const code = (error as { code?: string } | null)?.code;
  const name = (error as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || code === 'ETIMEDOUT') {
    return new APITimeoutError(`Request timed out after ${request.timeoutMs} ms.`, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new APIConnectionError(`Connection error: ${detail}`, { cause: error });
}
