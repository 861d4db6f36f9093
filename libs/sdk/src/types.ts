/**
 * Public data types of the API, taken from the generated spec types (src/generated) so that they
 * follow the server. Field names are the wire names (snake_case), as in the OpenAI SDKs.
 */
import type { Uploadable } from './core/uploads.js';
import type * as generated from './generated/openapi.js';

/** Every path of the API with its operations, as generated from the spec (openapi-fetch style). */
export type paths = generated.paths;
/** Every schema, parameter and response of the spec, as generated. */
export type components = generated.components;
/** Every operation of the spec by operationId (e.g. `Videos_create`), as generated. */
export type operations = generated.operations;

type Schemas = components['schemas'];

/** A video generation job and, once completed, its output (`id` is `video_…`). */
export type Video = Schemas['Video'];

/** Lifecycle of a video job: `queued` → `in_progress` → `completed` | `failed` | `cancelled`. */
export type VideoStatus = Video['status'];

/** Why a video failed: a code from a closed set (`GPU_OOM`, `WORKER_CRASHED`, …) and a message. */
export type VideoError = NonNullable<Video['error']>;

/**
 * Request values the server changed to fit the model's grid, by field (`size`, `width`, `height`,
 * `num_frames`, `seconds`): `{ size: { requested: '1280x720', used: '1280x704' } }`.
 */
export type VideoAdjustments = Video['adjusted'];

/** One adjusted field: what was requested and what is generated. */
export type VideoAdjustment = VideoAdjustments[string];

/** Seconds spent in each phase (`queue_s`, `load_s`, `inference_s`, `encode_s`); null when not reached. */
export type VideoTimings = Video['timings'];

/**
 * What produced a video: the acceleration asked for (`auto` | `none`), the step cache, compile mode
 * and attention backend it ran with, and the transformer passes computed against a plain run's.
 */
export type VideoAcceleration = Video['acceleration'];

/**
 * Body of `POST /v1/videos`. `prompt` is required. Use `size` or `width`+`height`, and `seconds`
 * or `num_frames` (values off the model's grid are snapped and reported in `Video.adjusted`);
 * contradicting values and unknown fields are a 400. `user` identifies your end user.
 */
export type VideoCreateParams = Omit<Schemas['CreateVideoRequest'], 'input_reference'> & {
  /**
   * Image-to-video: the first frame to start from. A local path, bytes, a `Blob`/`File` or a
   * stream is uploaded as a multipart file part; a `data:image/…;base64,` URL is sent in JSON.
   * The server fits it to the requested size (`input_fit`) or picks the preset closest to its
   * aspect ratio when no size is given.
   */
  input_reference?: Uploadable;
};

/** Query of `GET /v1/videos`: `after` (cursor), `limit` (1–100), `order` (`asc` | `desc`). */
export type VideoListParams = NonNullable<operations['Videos_list']['parameters']['query']>;

/** The list envelope of `GET /v1/videos`. */
export type VideoList = Schemas['VideoList'];

/** Answer of `DELETE /v1/videos/{id}`. */
export type VideoDeleted = Schemas['VideoDeleted'];

/** Which file of a completed video to fetch: `video` (MP4) or `thumbnail` (JPEG). */
export type VideoContentVariant = NonNullable<
  NonNullable<operations['Videos_content']['parameters']['query']>['variant']
>;

/** A model served by the API, with its presets. */
export type Model = Schemas['Model'];

/** What a model accepts and defaults to: sizes, fps, seconds, steps, guidance, prompt length. */
export type ModelPresets = Model['presets'];

/** A `{min, max, default}` range of a preset. */
export type PresetRange = ModelPresets['seconds'];

/** Answer of `GET /v1/models`. */
export type ModelList = Schemas['ModelList'];

/** The API's error envelope `{"error":{"message","type","param","code"}}`. */
export type ErrorResponse = Schemas['ErrorResponse'];

/** `GET /v1/usage`: totals by caller, model and day. */
export type UsageReport = Schemas['UsageReport'];

/** One group of a usage report. */
export type UsageRow = UsageReport['total'];

/** How usage is grouped. */
export type UsageGroup = UsageReport['group_by'][number];

/** Parameters of `client.usage.retrieve`: the range (ISO 8601, unix seconds or a Date) and the grouping. */
export interface UsageParams {
  start?: string | number | Date;
  end?: string | number | Date;
  group_by?: UsageGroup[] | string;
}

/** Names of the messages on `GET /v1/videos/{id}/events` (from the spec's `VideoStreamEvent`). */
export type VideoEventName = Schemas['VideoStreamEvent']['event'];

/** One message of the events stream: its name and the full video object at that moment. */
export interface VideoEvent {
  /** The SSE `event:` name. */
  event: VideoEventName;
  /** The video object as the server saw it when sending the event. */
  data: Video;
}

/** The states a video does not leave. */
export const TERMINAL_VIDEO_STATUSES: readonly VideoStatus[] = ['completed', 'failed', 'cancelled'];

/** Whether `status` is final (`completed`, `failed` or `cancelled`). */
export function isTerminalStatus(status: VideoStatus): boolean {
  return TERMINAL_VIDEO_STATUSES.includes(status);
}
