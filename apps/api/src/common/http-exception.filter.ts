import type { IncomingMessage } from 'node:http';

import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { ApiErrorCode, ApiErrorType } from '@t2v/contracts';

import { NotDurable, StoreUnavailable } from '../jobs/job-store.errors';
import {
  IdempotencyConflict,
  InvalidJobState,
  JobFailed,
  JobNotFound,
  OutputGone,
  NoWorkerCanRun,
  QueueIsFull,
  CallerCapFull,
  ShuttingDown,
} from '../jobs/jobs.errors';
import { appLogger } from '../logging/logger';
import { ApiError } from './api-error';
import { requestIdOf, requestPath } from './http';

/** What the filter reads of a request: Fastify's, or the raw one middleware sees. */
type RequestLike = Pick<IncomingMessage, 'headers' | 'method'> & { url: string };

const BY_STATUS: Record<number, [ApiErrorType, ApiErrorCode]> = {
  400: ['invalid_request_error', 'invalid_value'],
  401: ['authentication_error', 'invalid_api_key'],
  404: ['not_found_error', 'not_found'],
  405: ['invalid_request_error', 'invalid_value'],
  409: ['conflict_error', 'idempotency_conflict'],
  413: ['invalid_request_error', 'payload_too_large'],
  415: ['invalid_request_error', 'unsupported_media_type'],
  429: ['rate_limit_error', 'rate_limited'],
  503: ['service_unavailable_error', 'not_ready'],
};

/** Renders every error as the OpenAI envelope. The only place that knows the wire shape of errors. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = appLogger('http');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = this.adapterHost.httpAdapter;
    const ctx = host.switchToHttp();
    // A Fastify reply, or the raw response when the error comes from middleware.
    const res = ctx.getResponse<unknown>();
    const req = ctx.getRequest<RequestLike>();
    const error = toApiError(exception, req);
    // A 500 nobody chose (not an ApiError or a domain refusal, nor an HttpException such as a
    // failed health check).
    if (error.status === 500 && error.code === 'internal_error' && isUnexpected(exception)) {
      this.logger.error(
        { err: exception, request_id: requestIdOf(req) },
        `unhandled error on ${req.method} ${requestPath(req)} (request ${requestIdOf(req) ?? '-'})`,
      );
    }
    if (http.isHeadersSent(res)) {
      http.end(res);
      return;
    }
    // Health checks answer with their own documented body (which check is down, and why).
    if (exception instanceof HttpException && isHealthBody(exception.getResponse())) {
      http.reply(res, exception.getResponse(), exception.getStatus());
      return;
    }
    for (const [k, v] of Object.entries(error.headers)) http.setHeader(res, k, v);
    http.reply(res, error.toBody(), error.status);
  }
}

/** The status, envelope and headers of each refusal of the job domain (`jobs/jobs.errors.ts`). */
function fromDomainError(e: unknown): ApiError | null {
  if (e instanceof JobNotFound) return ApiError.notFound('video', e.id);
  if (e instanceof OutputGone) return new ApiError(404, 'not_found_error', 'not_found', e.message, 'id');
  if (e instanceof QueueIsFull) return ApiError.unavailable('queue_full', e.message, e.retryAfterS);
  if (e instanceof CallerCapFull) {
    return new ApiError(429, 'rate_limit_error', 'caller_queue_cap', e.message, null, {
      'Retry-After': String(e.retryAfterS),
    });
  }
  if (e instanceof ShuttingDown) return ApiError.unavailable('shutting_down', e.message, 1);
  if (e instanceof NoWorkerCanRun) return ApiError.unavailable('workers_failed', e.message, 30);
  if (e instanceof NotDurable) {
    return ApiError.unavailable(
      'not_ready',
      'The job could not be stored durably right now (too few Redis replicas confirmed it); retry shortly.',
      1,
    );
  }
  if (e instanceof StoreUnavailable) {
    return ApiError.unavailable('not_ready', 'The job queue is unreachable right now; retry shortly.', 1);
  }
  if (e instanceof IdempotencyConflict) {
    return ApiError.conflict('idempotency_conflict', e.message, 'Idempotency-Key');
  }
  if (e instanceof InvalidJobState) {
    if (e.reason === 'not_ready') return ApiError.conflict('video_not_ready', e.message, 'id');
    return ApiError.conflict('invalid_state', e.message, e.reason === 'cancelled' ? null : 'id');
  }
  if (e instanceof JobFailed) return new ApiError(500, 'server_error', 'internal_error', e.message);
  return null;
}

function toApiError(exception: unknown, req?: RequestLike): ApiError {
  if (exception instanceof ApiError) return exception;
  const domain = fromDomainError(exception);
  if (domain) return domain;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const [type, code] =
      BY_STATUS[status] ?? (status >= 500 ? ['server_error', 'internal_error'] : BY_STATUS[400]!);
    // Fastify refuses a body it has no parser for, or one over the limit, before any handler runs.
    if (status === 415) return ApiError.unsupportedMediaType(String(req?.headers['content-type'] ?? ''));
    const message =
      status === 404 && req
        ? `Unknown route: ${req.method} ${requestPath(req)}`
        : status === 413
          ? 'Request body is too large.'
          : exceptionMessage(exception.getResponse());
    return new ApiError(status, type, code, message);
  }
  // Anything else that carries a 4xx status (a Node or library error) keeps it.
  const e = exception as { status?: number; statusCode?: number; message?: string };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const [type, code] = BY_STATUS[status] ?? BY_STATUS[400]!;
    return new ApiError(status, type, code, e.message ?? 'Bad request.');
  }
  return new ApiError(500, 'server_error', 'internal_error', 'Internal server error.');
}

function isUnexpected(exception: unknown): boolean {
  return !(exception instanceof ApiError || exception instanceof HttpException || fromDomainError(exception));
}

function exceptionMessage(response: string | object): string {
  if (typeof response === 'string') return response;
  const m = (response as { message?: unknown }).message;
  if (Array.isArray(m)) return m.join('; ');
  return typeof m === 'string' ? m : 'Request failed.';
}

function isHealthBody(body: string | object): boolean {
  return typeof body === 'object' && 'status' in body && 'details' in body;
}
