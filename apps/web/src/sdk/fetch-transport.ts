import type { Readable } from 'node:stream';

import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  type Transport,
  type TransportRequest,
  type TransportResponse,
} from '@t2v/sdk';

/**
 * The part of a Node.js `Readable` that the SDK's core uses on a response body: async iteration,
 * `resume()` (discard before a retry) and `destroy()` (stop reading an event stream).
 */
export interface BrowserBody extends AsyncIterable<Uint8Array> {
  resume(): void;
  destroy(): void;
}

/**
 * A {@link Transport} on the browser's `fetch`, for the SDK's `transport` seam (its default
 * transport is got, which needs Node.js). Same contract as the SDK's got transport: any status
 * resolves; timeouts reject with `APITimeoutError`, the caller's abort with `APIUserAbortError`,
 * anything else with `APIConnectionError`. Buffered calls read the whole body under one timeout;
 * streamed ones (`stream: true`: event streams, content) bound the wait for headers and each idle gap.
 */
export function createFetchTransport(
  fetchImpl: typeof fetch = (input, init) => fetch(input, init),
): Transport {
  return (request) => send(fetchImpl, request);
}

async function send(fetchImpl: typeof fetch, request: TransportRequest): Promise<TransportResponse> {
  const controller = new AbortController();
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, request.timeoutMs);
  };
  const onAbort = () => controller.abort();
  request.signal?.addEventListener('abort', onAbort, { once: true });
  const finish = () => {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
  };
  const mapError = (error: unknown): Error => {
    finish();
    if (request.signal?.aborted) return new APIUserAbortError(undefined, { cause: error });
    if (timedOut)
      return new APITimeoutError(`Request timed out after ${request.timeoutMs} ms.`, { cause: error });
    const detail = error instanceof Error ? error.message : String(error);
    return new APIConnectionError(`Connection error: ${detail}`, { cause: error });
  };

  // Browsers own the user agent; sending one is at best ignored and, cross-origin, forces a preflight.
  const headers = { ...request.headers };
  delete headers['user-agent'];
  arm();
  let response: Response;
  try {
    response = await fetchImpl(request.url, {
      method: request.method,
      headers,
      body: request.body as BodyInit | undefined,
      signal: controller.signal,
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (error) {
    throw mapError(error);
  }
  const responseHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    responseHeaders[name.toLowerCase()] = value;
  });

  let body: BrowserBody;
  if (!request.stream || response.body === null) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      throw mapError(error);
    }
    finish();
    body = bufferedBody(bytes);
  } else {
    // Headers are in: from here the timeout bounds each idle gap, not the whole stream.
    clearTimeout(timer);
    body = streamedBody(response.body, request.timeoutMs, finish, mapError, () => controller.abort());
  }
  // The SDK types bodies as Node streams but only iterates, resumes and destroys them.
  return { status: response.status, headers: responseHeaders, body: body as unknown as Readable };
}

function bufferedBody(bytes: Uint8Array): BrowserBody {
  let consumed = false;
  return {
    async *[Symbol.asyncIterator]() {
      if (consumed) return;
      consumed = true;
      if (bytes.byteLength > 0) yield bytes;
    },
    resume() {
      consumed = true;
    },
    destroy() {
      consumed = true;
    },
  };
}

function streamedBody(
  stream: ReadableStream<Uint8Array>,
  timeoutMs: number,
  finish: () => void,
  mapError: (error: unknown) => Error,
  abort: () => void,
): BrowserBody {
  const reader = stream.getReader();
  let done = false;
  const close = () => {
    if (done) return;
    done = true;
    finish();
    abort();
    reader.cancel().catch(() => undefined);
  };
  // Raced rather than left to the fetch's abort: a stalled read must end even where aborting
  // the request does not error a body already being read.
  const read = () =>
    new Promise<ReadableStreamReadResult<Uint8Array>>((resolve, reject) => {
      const timer = setTimeout(() => {
        close();
        reject(new APITimeoutError(`No data for ${timeoutMs} ms.`));
      }, timeoutMs);
      reader.read().then(
        (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  return {
    async *[Symbol.asyncIterator]() {
      try {
        while (!done) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await read();
          } catch (error) {
            if (error instanceof APITimeoutError) throw error;
            if (done) return;
            throw mapError(error);
          }
          if (chunk.done) return;
          yield chunk.value;
        }
      } finally {
        close();
      }
    },
    resume: close,
    destroy: close,
  };
}
