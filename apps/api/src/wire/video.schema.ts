import {
  ACCELERATION_MODES,
  JOB_ERROR_CODES,
  JOB_STATUSES,
  PREVIEW_MIMES,
  QUEUE_REASONS,
  TRANSFORMER_WEIGHTS,
  type QueueReason,
} from '@t2v/contracts';
import { z } from 'zod';

import type { Adjustments, Job } from '../jobs/job.types';
import type { Preview } from '../jobs/preview-store';

const unix = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** The public video object (OpenAI Videos shape plus t2v extensions). Also documents the spec. */
export const videoObjectSchema = z
  .object({
    id: z.string().describe('video_<26 chars>'),
    object: z.literal('video'),
    model: z.string(),
    status: z.enum(JOB_STATUSES),
    progress: z.number().int().min(0).max(100),
    created_at: z.number().int().describe('Unix seconds.'),
    completed_at: z.number().int().nullable(),
    expires_at: z.number().int().nullable().describe('When the outputs are deleted (unix seconds).'),
    prompt: z.string(),
    seconds: z.string(),
    size: z.string(),
    error: z.object({ code: z.enum(JOB_ERROR_CODES), message: z.string() }).nullable(),
    seed: z.number().int(),
    negative_prompt: z.string().nullable(),
    num_inference_steps: z.number().int(),
    guidance_scale: z.number(),
    flow_shift: z.number().nullable(),
    fps: z.number().int(),
    num_frames: z.number().int(),
    queue_position: z.number().int().nullable().describe('1-based while queued.'),
    estimated_start_at: z
      .number()
      .int()
      .optional()
      .describe(
        'While queued or running: when its run should start (unix seconds), from step times learned per model, ' +
          'size, frames and acceleration, the jobs ahead and the loaded workers. Absent while there is no ' +
          'data to base it on (no run of a comparable shape finished yet, a job of unknown length ahead, no ' +
          'worker loaded): no estimate rather than a wrong one.',
      ),
    estimated_completion_at: z
      .number()
      .int()
      .optional()
      .describe(
        'While queued or running: when it should complete (unix seconds); absent as estimated_start_at.',
      ),
    queue_reason: z
      .enum(QUEUE_REASONS)
      .nullable()
      .describe(
        'While queued, why it waits: `gpu_capacity` (no GPU worker has the model loaded yet: GPU pods ' +
          'are starting or the GPU tier is scaling up from zero, a cold start), `workers_busy` (every ' +
          'loaded worker runs a job ahead of it), `workers_failed` (every GPU worker failed ' +
          'permanently; see /readyz). null when it is about to start or not queued.',
      ),
    cached: z.boolean().describe('Served from the result cache.'),
    metadata: z.record(z.string(), z.string()),
    user: z.string().nullable().describe("The request's `user`, if any."),
    adjusted: z
      .record(
        z.string(),
        z.object({ requested: z.union([z.string(), z.number()]), used: z.union([z.string(), z.number()]) }),
      )
      .describe(
        "Request values changed to fit the model's grid, by field (`size`, `width`, `height`, `num_frames`, " +
          '`seconds`): e.g. `{"size": {"requested": "1280x720", "used": "1280x704"}}`. Empty when nothing was.',
      ),
    input_reference: z
      .object({
        sha256: z.string().describe('SHA-256 (hex) of the fitted PNG the video was conditioned on.'),
        width: z.number().int(),
        height: z.number().int(),
      })
      .nullable()
      .describe(
        'Image-to-video: the image the video started from, as fitted to the video size (its hash and size, ' +
          'never the bytes). null for text-to-video.',
      ),
    lora: z
      .array(z.object({ name: z.string(), scale: z.number() }))
      .describe('The LoRA adapters the job runs with, as requested; empty for none.'),
    preview: z
      .boolean()
      .describe(
        'Live previews while it runs (`video.preview` events); false when the request turned them off.',
      ),
    timings: z.object({
      queue_s: z.number().nullable(),
      load_s: z.number().nullable(),
      inference_s: z.number().nullable(),
      encode_s: z.number().nullable(),
    }),
    acceleration: z
      .object({
        requested: z.enum(ACCELERATION_MODES).describe('As asked in the create request.'),
        cache: z.string().nullable().describe('Step cache that produced the video (off, first-block:…).'),
        compile: z.string().nullable().describe('off or blocks.'),
        attention: z.string().nullable().describe('Attention backend the transformer ran with.'),
        transformer_passes: z
          .number()
          .int()
          .nullable()
          .describe('Transformer passes computed; fewer than planned when the step cache skipped some.'),
        planned_passes: z
          .number()
          .int()
          .nullable()
          .describe('Passes of a plain run: steps, times 2 with classifier-free guidance.'),
        weights: z
          .enum(TRANSFORMER_WEIGHTS)
          .nullable()
          .describe(
            "The transformer's weights: bf16 (the checkpoint's own; float32 on a CPU) or fp8 (T2V_TRANSFORMER_WEIGHTS=fp8).",
          ),
      })
      .describe(
        'What produced the video; null fields until it completes (and for engines with no transformer).',
      ),
  })
  .describe('Video');

export type VideoObject = z.infer<typeof videoObjectSchema>;

export function toVideoObject(
  job: Job,
  queuePosition: number | null,
  queueReason: QueueReason | null = null,
  estimate: { startAt: number; completionAt: number } | null = null,
): VideoObject {
  const p = job.params;
  return {
    id: job.id,
    object: 'video',
    model: job.model,
    status: job.status,
    progress: job.progress,
    created_at: unix(job.createdAt)!,
    completed_at: unix(job.completedAt),
    expires_at: unix(job.expiresAt),
    prompt: p.prompt,
    seconds: job.seconds,
    size: `${p.width}x${p.height}`,
    error: job.errorCode ? { code: job.errorCode, message: job.errorMessage ?? '' } : null,
    seed: p.seed,
    negative_prompt: p.negative_prompt,
    num_inference_steps: p.num_inference_steps,
    guidance_scale: p.guidance_scale,
    flow_shift: p.flow_shift,
    fps: p.fps,
    num_frames: p.num_frames,
    queue_position: queuePosition,
    ...(estimate
      ? {
          estimated_start_at: Math.round(estimate.startAt / 1000),
          estimated_completion_at: Math.round(estimate.completionAt / 1000),
        }
      : {}),
    queue_reason: job.status === 'queued' ? queueReason : null,
    cached: job.cached,
    metadata: job.metadata,
    user: job.user ?? null,
    adjusted: job.adjusted ?? {},
    input_reference: p.image
      ? { sha256: p.image.sha256, width: p.image.width, height: p.image.height }
      : null,
    // Records created before the field existed ran without adapters.
    lora: (p.loras ?? []).map(({ name, scale }) => ({ name, scale })),
    // Records created before the field existed had previews.
    preview: p.preview ?? true,
    timings: job.timings,
    acceleration: {
      // Records created before the field existed ran with the defaults.
      requested: p.acceleration ?? 'auto',
      cache: job.acceleration?.cache ?? null,
      compile: job.acceleration?.compile ?? null,
      attention: job.acceleration?.attention ?? null,
      transformer_passes: job.acceleration?.passes ?? null,
      planned_passes: job.acceleration?.planned_passes ?? null,
      // Null for records finished before the field existed.
      weights: job.acceleration?.weights ?? null,
    },
  };
}

/** `data` of a `video.preview` event: where the latest live preview of a running job is. */
export const videoPreviewSchema = z
  .object({
    object: z.literal('video.preview'),
    video_id: z.string(),
    step: z.number().int().min(1).describe('The denoising step it shows.'),
    total: z.number().int().min(1).describe('Steps of the run.'),
    url: z
      .string()
      .describe(
        'Path of the picture (`GET`, the API key as for the video): the latest preview while the job ' +
          'runs; `step` only makes each URL name one picture for caches.',
      ),
    content_type: z.enum(PREVIEW_MIMES),
    width: z.number().int().describe('Pixels of the picture: a grid of up to four frames, two columns.'),
    height: z.number().int(),
    created_at: z.number().int().describe('Unix seconds.'),
  })
  .describe('VideoPreview');
export type VideoPreviewObject = z.infer<typeof videoPreviewSchema>;

export function presentPreview(preview: Preview): VideoPreviewObject {
  const id = encodeURIComponent(preview.jobId);
  return {
    object: 'video.preview',
    video_id: preview.jobId,
    step: preview.step,
    total: preview.total,
    url: `/v1/videos/${id}/content?variant=preview&step=${preview.step}`,
    content_type: preview.mime,
    width: preview.width,
    height: preview.height,
    created_at: preview.createdAt,
  };
}

/** Response header naming what was adjusted (same content as the video object's `adjusted`). */
export const ADJUSTED_HEADER = 't2v-adjusted';

/**
 * `adjusted` as an RFC 8941 structured-field dictionary, one member per field with `requested` and
 * `used` parameters: `size;requested="1280x720";used="1280x704", num_frames;requested=80;used=81`.
 * `null` when nothing was adjusted.
 */
export function adjustedHeader(adjusted: Adjustments | undefined): string | null {
  const entries = Object.entries(adjusted ?? {});
  if (entries.length === 0) return null;
  const item = (v: string | number) =>
    typeof v === 'number' ? String(v) : `"${v.replace(/[\\"]/g, '\\$&')}"`;
  return entries.map(([k, a]) => `${k};requested=${item(a.requested)};used=${item(a.used)}`).join(', ');
}

export const videoListSchema = z
  .object({
    object: z.literal('list'),
    data: z.array(videoObjectSchema),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  })
  .describe('VideoList');

export const videoDeletedSchema = z
  .object({ id: z.string(), object: z.literal('video.deleted'), deleted: z.literal(true) })
  .describe('VideoDeleted');
