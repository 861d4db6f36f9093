/**
 * Errors thrown by the client. Every failure the API answers with becomes an {@link APIError}
 * subclass chosen by HTTP status, carrying the OpenAI-shaped envelope's `type`, `code` and `param`
 * and the `x-request-id` the server logged it under. Failures to get an answer at all are
 * {@link APIConnectionError} (or its {@link APITimeoutError}); a caller's abort is {@link APIUserAbortError}.
 */

/** The `error` member of the API's envelope `{"error":{"message","type","param","code"}}`. */
export interface ErrorObject {
  /** Human-readable message, shown to users as is. */
  message: string;
  /** Error family, e.g. `invalid_request_error`, `rate_limit_error`. */
  type: string;
  /** The request field the error is about, or null. */
  param: string | null;
  /** Machine-readable code from a closed set, e.g. `unsupported_size`, `queue_full`. */
  code: string | null;
}

/** Base class of every error this package throws. */
export class T2VError extends Error {
  override name = 'T2VError';
}

/** The API answered with a non-2xx status, or no answer could be obtained (status undefined). */
export class APIError extends T2VError {
  override name = 'APIError';
  /** HTTP status; undefined when no response was received. */
  readonly status: number | undefined;
  /** Response headers, lower-cased; undefined when no response was received. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** The envelope's `error` object when the body had one. */
  readonly error: ErrorObject | undefined;
  /** Error code from the envelope, e.g. `unsupported_size`; null when absent. */
  readonly code: string | null;
  /** Request field the error is about, e.g. `size`; null when absent. */
  readonly param: string | null;
  /** Error type from the envelope, e.g. `invalid_request_error`; null when absent. */
  readonly type: string | null;
  /** The server's `x-request-id` for this request; quote it when reporting a problem. */
  readonly requestId: string | null;

  /**
   * @param status HTTP status, or undefined when there was no response.
   * @param error the envelope's `error` object, if any.
   * @param message the message to carry; the API's own message when it sent one.
   * @param headers lower-cased response headers.
   */
  constructor(
    status: number | undefined,
    error: ErrorObject | undefined,
    message: string,
    headers: Record<string, string> | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = status;
    this.headers = headers;
    this.error = error;
    this.code = error?.code ?? null;
    this.param = error?.param ?? null;
    this.type = error?.type ?? null;
    this.requestId = headers?.['x-request-id'] ?? null;
  }

  /**
   * Builds the subclass that matches `status` from a parsed response body.
   * @param status HTTP status of the response.
   * @param body parsed JSON body, or the raw text when it was not JSON.
   * @param headers lower-cased response headers.
   */
  static generate(status: number, body: unknown, headers: Record<string, string>): APIError {
    const error = readErrorObject(body);
    const message =
      error?.message ??
      (typeof body === 'string' && body.trim() !== ''
        ? truncate(body.trim(), 500)
        : `${status} status code (no error message)`);
    const Class = classForStatus(status);
    return new Class(status, error, message, headers);
  }
}

/** 400: the request was malformed or a value was out of range; `param` names the field. */
export class BadRequestError extends APIError {
  override name = 'BadRequestError';
}
/** 401: missing or unknown API key. */
export class AuthenticationError extends APIError {
  override name = 'AuthenticationError';
}
/** 403: the key may not do this. */
export class PermissionDeniedError extends APIError {
  override name = 'PermissionDeniedError';
}
/** 404: no such video (never existed, deleted or expired) or route. */
export class NotFoundError extends APIError {
  override name = 'NotFoundError';
}
/** 409: e.g. `video_not_ready` for content of an unfinished video, or `idempotency_conflict`. */
export class ConflictError extends APIError {
  override name = 'ConflictError';
}
/** 413: the request body is too large. */
export class PayloadTooLargeError extends APIError {
  override name = 'PayloadTooLargeError';
}
/** 422: the request was understood but cannot be processed. */
export class UnprocessableEntityError extends APIError {
  override name = 'UnprocessableEntityError';
}
/** 429: this key's queue share is full (`rate_limited`); retried automatically, honouring `Retry-After`. */
export class RateLimitError extends APIError {
  override name = 'RateLimitError';
}
/** 5xx: the server failed; retried automatically. */
export class InternalServerError extends APIError {
  override name = 'InternalServerError';
}
/** 503: the global queue is full (`queue_full`), no worker is ready, or the server is shutting down. */
export class ServiceUnavailableError extends InternalServerError {
  override name = 'ServiceUnavailableError';
}

/** No HTTP response was obtained: connection refused or reset, DNS failure, truncated body. */
export class APIConnectionError extends APIError {
  override name = 'APIConnectionError';
  /**
   * @param message what went wrong.
   * @param cause the underlying error.
   */
  constructor(message = 'Connection error.', options?: { cause?: unknown }) {
    super(undefined, undefined, message, undefined, options);
  }
}

/** The request did not complete within the configured `timeout`. */
export class APITimeoutError extends APIConnectionError {
  override name = 'APITimeoutError';
  /** @param message what timed out. */
  constructor(message = 'Request timed out.', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The caller aborted the request through its `AbortSignal`. */
export class APIUserAbortError extends APIError {
  override name = 'APIUserAbortError';
  /** @param message why it stopped. */
  constructor(message = 'Request was aborted.', options?: { cause?: unknown }) {
    super(undefined, undefined, message, undefined, options);
  }
}

type APIErrorClass = new (
  status: number | undefined,
  error: ErrorObject | undefined,
  message: string,
  headers: Record<string, string> | undefined,
) => APIError;

function classForStatus(status: number): APIErrorClass {
  switch (status) {
    case 400:
      return BadRequestError;
    case 401:
      return AuthenticationError;
    case 403:
      return PermissionDeniedError;
    case 404:
      return NotFoundError;
    case 409:
      return ConflictError;
    case 413:
      return PayloadTooLargeError;
    case 422:
      return UnprocessableEntityError;
    case 429:
      return RateLimitError;
    case 503:
      return ServiceUnavailableError;
    default:
      return status >= 500 ? InternalServerError : APIError;
  }
}

function readErrorObject(body: unknown): ErrorObject | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as Record<string, unknown>;
  if (typeof e['message'] !== 'string') return undefined;
  return {
    message: e['message'],
    type: typeof e['type'] === 'string' ? e['type'] : 'api_error',
    param: typeof e['param'] === 'string' ? e['param'] : null,
    code: typeof e['code'] === 'string' ? e['code'] : null,
  };
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
