/**
 * `@t2v/sdk`: typed client of the t2v text-to-video API.
 *
 * Public surface: the {@link T2V} client and its options, the resource classes, the data types,
 * the error classes, pagination and streaming helpers, and the {@link Transport} seam. Anything
 * not exported here is internal and may change without notice.
 */
export { T2V, T2V as default, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS } from './client.js';
export type { ClientOptions } from './client.js';
export type { APIResponse, RequestOptions } from './core/api-client.js';
export { BinaryResponse } from './core/binary-response.js';
export type { DownloadResult } from './core/download.js';
export {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
  ServiceUnavailableError,
  T2VError,
  UnprocessableEntityError,
} from './core/errors.js';
export type { ErrorObject } from './core/errors.js';
export { createGotTransport } from './core/got-transport.js';
export type { GotTransportOptions } from './core/got-transport.js';
export { CursorPage, PagePromise } from './core/pagination.js';
export type { CursorPageBody, CursorPageParams } from './core/pagination.js';
export { parseSSE } from './core/sse.js';
export type { ServerSentEvent } from './core/sse.js';
export type { HttpMethod, Transport, TransportRequest, TransportResponse } from './core/transport.js';
export { sniffImageType } from './core/uploads.js';
export type { NamedUpload, Uploadable } from './core/uploads.js';
export { Models } from './resources/models.js';
export { Usage } from './resources/usage.js';
export type { WaitOptions } from './resources/video-waiter.js';
export { Videos } from './resources/videos.js';
export type { CreateAndWaitOptions, VideoContentOptions, VideoCreateOptions } from './resources/videos.js';
export { TERMINAL_VIDEO_STATUSES, isTerminalStatus } from './types.js';
export type {
  components,
  ErrorResponse,
  UsageGroup,
  UsageParams,
  UsageReport,
  UsageRow,
  Model,
  ModelList,
  ModelPresets,
  operations,
  paths,
  PresetRange,
  Video,
  VideoAcceleration,
  VideoAdjustment,
  VideoAdjustments,
  VideoContentVariant,
  VideoCreateParams,
  VideoDeleted,
  VideoError,
  VideoEvent,
  VideoEventName,
  VideoList,
  VideoListParams,
  VideoStatus,
  VideoTimings,
} from './types.js';
export { VERSION } from './version.js';
