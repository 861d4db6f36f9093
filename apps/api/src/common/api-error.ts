import type { ApiErrorBody, ApiErrorCode, ApiErrorType } from '@t2v/contracts';

/**
 * A domain error that maps to the public envelope. Services throw these; one filter renders them.
 * Anything else that escapes is a bug and becomes a 500 `internal_error` (logged with the stack).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ApiErrorType,
    readonly code: ApiErrorCode,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  static badRequest(param: string | null, message: string, code: ApiErrorCode = 'invalid_value'): ApiError {
    return new ApiError(400, 'invalid_request_error', code, message, param);
  }

  static notFound(what: string, id: string): ApiError {
    return new ApiError(404, 'not_found_error', 'not_found', `No ${what} found with id '${id}'.`, 'id');
  }

  static conflict(code: ApiErrorCode, message: string, param: string | null = null): ApiError {
    return new ApiError(409, 'conflict_error', code, message, param);
  }

  static unsupportedMediaType(contentType: string): ApiError {
    return new ApiError(
      415,
      'invalid_request_error',
      'unsupported_media_type',
      `Unsupported Content-Type '${contentType}'; send application/json or multipart/form-data.`,
    );
  }

  static unavailable(code: ApiErrorCode, message: string, retryAfterS: number): ApiError {
    return new ApiError(503, 'service_unavailable_error', code, message, null, {
      'Retry-After': String(retryAfterS),
    });
  }
}
