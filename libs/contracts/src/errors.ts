/**
 * Public HTTP error envelope (OpenAI shape): `{"error":{"message","type","param","code"}}`.
 * `type` and `code` come from closed sets so clients can branch on them.
 */
export const API_ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'conflict_error',
  'rate_limit_error',
  'server_error',
  'service_unavailable_error',
] as const;
export type ApiErrorType = (typeof API_ERROR_TYPES)[number];

export const API_ERROR_CODES = [
  'invalid_value',
  'missing_field',
  'unknown_field',
  'unsupported_size',
  'conflicting_fields',
  'invalid_json',
  'invalid_image',
  'unsupported_image_format',
  'image_too_large',
  'unknown_lora',
  'payload_too_large',
  'unsupported_media_type',
  'invalid_api_key',
  'not_found',
  'video_not_ready',
  'invalid_state',
  'idempotency_conflict',
  'rate_limited',
  'caller_queue_cap',
  'insufficient_scope',
  'queue_full',
  'not_ready',
  'shutting_down',
  'workers_failed',
  'internal_error',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export interface ApiErrorBody {
  error: {
    message: string;
    type: ApiErrorType;
    param: string | null;
    code: ApiErrorCode;
  };
}
