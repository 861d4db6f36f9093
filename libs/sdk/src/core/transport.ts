import type { Readable } from 'node:stream';

/** HTTP methods the client uses. */
export type HttpMethod = 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';

/** One HTTP exchange as the client asks a {@link Transport} for it. */
export interface TransportRequest {
  /** HTTP method. */
  method: HttpMethod;
  /** Absolute URL, query string included. */
  url: string;
  /** Request headers (the client sets `accept`, `user-agent`, `authorization`, `content-type`). */
  headers: Record<string, string>;
  /** Serialised request body, if any. */
  body?: string | Uint8Array;
  /**
   * Milliseconds. For a buffered exchange it bounds the whole exchange; for a streamed one
   * (`stream: true`: downloads, event streams) it bounds the wait for headers and each idle gap.
   */
  timeoutMs: number;
  /** Whether the body will be consumed incrementally. */
  stream: boolean;
  /** Aborts the exchange, including a body still being read. */
  signal?: AbortSignal;
}

/** What a {@link Transport} answers: any status; the client decides what is an error. */
export interface TransportResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers with lower-cased names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The response body; the client reads or destroys it. */
  body: Readable;
}

/**
 * Sends one HTTP request. The default one is built on got; pass your own in `ClientOptions.transport`
 * to route requests elsewhere or to test without a network. It should reject with
 * {@link APITimeoutError} on timeouts; any other rejection is treated as a connection failure.
 */
export type Transport = (request: TransportRequest) => Promise<TransportResponse>;
