import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { ApiErrorCode, ApiErrorType } from '@t2v/contracts';
import type { Request, Response } from 'express';

import { ApiError } from './api-error';

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
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    const error = toApiError(exception, req);
    if (error.status >= 500 && !(exception instanceof ApiError)) {
      this.logger.error(`unhandled error on ${req.method} ${req.path}`, (exception as Error)?.stack);
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    // Health checks answer with their own documented body (which check is down, and why).
    if (exception instanceof HttpException && isHealthBody(exception.getResponse())) {
      res.status(exception.getStatus()).json(exception.getResponse());
      return;
    }
    for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v);
    res.status(error.status).json(error.toBody());
  }
}

export function toApiError(exception: unknown, req?: Request): ApiError {
  if (exception instanceof ApiError) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const [type, code] =
      BY_STATUS[status] ?? (status >= 500 ? ['server_error', 'internal_error'] : BY_STATUS[400]!);
    const message =
      status === 404 && req
        ? `Unknown route: ${req.method} ${req.path}`
        : exceptionMessage(exception.getResponse());
    return new ApiError(status, type, code, message);
  }
  // Errors raised by body parsers and multer carry an HTTP status and a `type` / `code`.
  const e = exception as {
    status?: number;
    statusCode?: number;
    type?: string;
    code?: string;
    message?: string;
  };
  const status = e?.status ?? e?.statusCode;
  if (e?.type === 'entity.too.large' || e?.code === 'LIMIT_FIELD_VALUE' || e?.code === 'LIMIT_FILE_SIZE') {
    return new ApiError(413, 'invalid_request_error', 'payload_too_large', 'Request body is too large.');
  }
  if (e?.type === 'entity.parse.failed') {
    return new ApiError(400, 'invalid_request_error', 'invalid_json', 'Request body is not valid JSON.');
  }
  if (typeof e?.code === 'string' && e.code.startsWith('LIMIT_')) {
    return new ApiError(
      400,
      'invalid_request_error',
      'invalid_value',
      `Invalid multipart body: ${e.message}`,
    );
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const [type, code] = BY_STATUS[status] ?? BY_STATUS[400]!;
    return new ApiError(status, type, code, e.message ?? 'Bad request.');
  }
  return new ApiError(500, 'server_error', 'internal_error', 'Internal server error.');
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
