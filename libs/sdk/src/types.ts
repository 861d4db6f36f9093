/**
 * Public data types of the API. Field names are the wire names (snake_case), as in the OpenAI SDKs.
 */

/** Lifecycle of a video job. */
export type VideoStatus = 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled';

/** The states a video does not leave. */
export const TERMINAL_VIDEO_STATUSES: readonly VideoStatus[] = ['completed', 'failed', 'cancelled'];

/** Whether `status` is final (`completed`, `failed` or `cancelled`). */
export function isTerminalStatus(status: VideoStatus): boolean {
  return TERMINAL_VIDEO_STATUSES.includes(status);
}

/** Why a video failed. */
export interface VideoError {
  /** Machine-readable reason, e.g. `GPU_OOM`, `WORKER_CRASHED`. */
  code: string;
  /** Human-readable message. */
  message: string;
}

/** Seconds spent in each phase; null for phases not reached. */
export interface VideoTimings {
  queue_s: number | null;
  load_s: number | null;
  inference_s: number | null;
  encode_s: number | null;
}

/** A video generation job and, once completed, its output. */
export interface Video {
  /** `video_…` */
  id: string;
  object: 'video';
  /** Model that renders it. */
  model: string;
  status: VideoStatus;
  /** 0–100. */
  progress: number;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds, once terminal. */
  completed_at: number | null;
  /** Unix seconds after which the output is deleted. */
  expires_at: number | null;
  prompt: string;
  /** Duration in seconds, as a string (OpenAI shape). */
  seconds: string;
  /** `WxH`. */
  size: string;
  /** Set when `status` is `failed`. */
  error: VideoError | null;
  seed: number | null;
  negative_prompt: string | null;
  num_inference_steps: number | null;
  guidance_scale: number | null;
  fps: number | null;
  num_frames: number | null;
  /** 0-based position while queued; null otherwise. */
  queue_position: number | null;
  /** Served from the result cache. */
  cached: boolean;
  metadata: Record<string, string> | null;
  timings: VideoTimings | null;
}

/** Body of `POST /v1/videos`. Use either `size` or `width`+`height`, either `seconds` or `num_frames`. */
export interface VideoCreateParams {
  /** What to render. */
  prompt: string;
  /** Model id; the loaded model by default. */
  model?: string;
  /** Duration in seconds. */
  seconds?: string | number;
  /** `WxH`, one of the model's preset sizes (see `models.list()`). */
  size?: string;
  /** Frame width in pixels (with `height`, instead of `size`). */
  width?: number;
  /** Frame height in pixels (with `width`, instead of `size`). */
  height?: number;
  /** Number of frames (instead of `seconds`). */
  num_frames?: number;
  /** Frames per second. */
  fps?: number;
  /** What to avoid. */
  negative_prompt?: string;
  /** Fixes the noise; identical requests with a seed may be served from the result cache. */
  seed?: number;
  /** Denoising steps. */
  num_inference_steps?: number;
  /** Classifier-free guidance scale. */
  guidance_scale?: number;
  /** Scheduler flow shift. */
  flow_shift?: number;
  /** Called with the video object when it reaches a terminal state. */
  webhook_url?: string;
  /** Up to a few string pairs stored with the video. */
  metadata?: Record<string, string>;
}

/** Query of `GET /v1/videos`. */
export interface VideoListParams {
  /** Cursor: the `last_id` of the previous page. */
  after?: string;
  /** Page size. */
  limit?: number;
  /** `desc` (newest first) or `asc`. */
  order?: 'asc' | 'desc';
}

/** Answer of `DELETE /v1/videos/{id}`. */
export interface VideoDeleted {
  id: string;
  object: 'video.deleted';
  deleted: boolean;
}

/** Which file of a completed video to fetch. */
export type VideoContentVariant = 'video' | 'thumbnail';

/** Names of the messages on `GET /v1/videos/{id}/events`. */
export type VideoEventName =
  | 'video.queued'
  | 'video.in_progress'
  | 'video.progress'
  | 'video.completed'
  | 'video.failed'
  | 'video.cancelled';

/** One message of the events stream: its name and the full video object at that moment. */
export interface VideoEvent {
  event: VideoEventName;
  data: Video;
}

/** A `{min, max, default}` range of a preset. */
export interface PresetRange {
  min: number;
  max: number;
  default: number;
}

/** What a model accepts and defaults to. */
export interface ModelPresets {
  /** Allowed `WxH` sizes. */
  sizes: string[];
  default_size: string;
  fps: number;
  seconds: PresetRange;
  num_inference_steps: PresetRange;
  guidance_scale: PresetRange;
  max_prompt_length: number;
}

/** A model served by the API. */
export interface Model {
  id: string;
  object: 'model';
  /** Unix seconds. */
  created: number;
  owned_by: string;
  /** `wan`, `wan-tiny` or `synthetic`. */
  engine: string;
  presets: ModelPresets;
}

/** Answer of `GET /v1/models`. */
export interface ModelList {
  object: 'list';
  data: Model[];
}
