import { z } from 'zod';

import { ACCELERATION_MODES } from '@t2v/contracts';

import { ApiError } from '../common/api-error';
import { MAX_USER } from '../common/request-limits';
import { INPUT_FITS, presetForImage } from '../images/input-image';
import type { Adjustments, NewJobRequest } from '../jobs/job.types';
import { framesForSeconds, secondsForFrames, snapFrames, snapSize } from '../presets/grid';
import type { ModelDescriptor } from '../models/model-description';

const MAX_SEED = 2 ** 32 - 1;
/** At most this many adapters per job, each with a scale in ±MAX_LORA_SCALE (ADR 0017). */
export const MAX_LORAS = 4;
export const MAX_LORA_SCALE = 2;
const NO_CONTROL_CHARS = /^[^\u0000-\u001f\u007f]*$/;

/** The create request body. Unknown fields are rejected; names follow OpenAI and vLLM-Omni. */
export function createVideoSchema(model: ModelDescriptor) {
  const p = model.presets;
  const grid = `${p.size_multiple}-pixel grid`;
  return z
    .strictObject({
      prompt: z
        .string()
        .trim()
        .min(1, 'must not be empty')
        .max(p.max_prompt_length, `must be at most ${p.max_prompt_length} characters`)
        .describe('What the video shows.'),
      model: z
        .string()
        .optional()
        .describe(`Model id or alias (see GET /v1/models); defaults to the loaded model (${model.id}).`),
      seconds: z
        .union([z.number(), z.string().regex(/^\d+(\.\d+)?$/, 'must be a number of seconds, e.g. "4"')])
        .transform(Number)
        .pipe(z.number().min(p.seconds.min).max(p.seconds.max))
        .optional()
        .describe(
          `Duration in seconds (${p.seconds.min}-${p.seconds.max}); string or number. seconds × fps frame ` +
            `intervals, rounded to a multiple of ${p.frame_multiple} (${p.frame_multiple}k+1 frames; ties down); ` +
            '`seconds` reports the result.',
        ),
      size: z
        .string()
        .regex(/^\d+x\d+$/, 'must be "WIDTHxHEIGHT", e.g. "1280x720"')
        .optional()
        .describe(
          `WIDTHxHEIGHT, snapped to the model's ${grid}: each side to the nearest multiple of ` +
            `${p.size_multiple}, never more pixels than requested (1280x720 → 1280x704, 854x480 → 832x480); ` +
            `sides ${p.size_multiple}-${p.max_side}, at most ${p.max_pixels} pixels after snapping. ` +
            `Tested presets: ${p.sizes.join(', ')}.`,
        ),
      width: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(`Alternative to size, with height; snapped like size.`),
      height: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(`Alternative to size, with width; snapped like size.`),
      num_frames: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(
          `Alternative to seconds: the frame count, snapped to the nearest ${p.frame_multiple}k+1 (ties ` +
            `down: 80 → 81, 79 → 77); ${p.min_frames}-${p.max_frames} after snapping.`,
        ),
      fps: z.number().int().min(p.fps_range.min).max(p.fps_range.max).optional(),
      negative_prompt: z
        .string()
        .max(p.max_prompt_length)
        .nullable()
        .optional()
        .describe(
          "What the video should not show. Omitted or null: the model's default (for Wan2.2, the negative prompt " +
            'of its reference configuration); "" for none.',
        ),
      seed: z
        .number()
        .int()
        .min(0)
        .max(MAX_SEED)
        .optional()
        .describe('Fixes the noise; enables the result cache.'),
      num_inference_steps: z
        .number()
        .int()
        .min(p.num_inference_steps.min)
        .max(p.num_inference_steps.max)
        .optional(),
      guidance_scale: z.number().min(p.guidance_scale.min).max(p.guidance_scale.max).optional(),
      flow_shift: z.number().min(0).max(100).nullable().optional(),
      acceleration: z
        .enum(ACCELERATION_MODES)
        .optional()
        .describe(
          `auto (default): the deployment's step cache (${model.acceleration.cache}) and compiled blocks ` +
            `(${model.acceleration.compile}); none: every step computed in full, for a reference render.`,
        ),
      input_reference: z
        .union([
          z.string().describe('A data: URL: data:image/png;base64,…'),
          z
            .strictObject({
              image_url: z.string().optional().describe('A data: URL (remote URLs are refused).'),
              file_id: z.string().optional().describe('Not supported: t2v has no files API.'),
            })
            .describe("OpenAI's reference object; only `image_url` with a data: URL is accepted."),
        ])
        .optional()
        .describe(
          'Image-to-video: the image the video starts from. PNG, JPEG or WebP, judged by its bytes. In JSON a ' +
            'data:image/…;base64,… URL (or `{"image_url": "data:…"}`); in multipart/form-data a file part. ' +
            'Remote URLs are refused. At most T2V_MAX_IMAGE_BYTES (10 MB by default) and T2V_MAX_IMAGE_PIXELS ' +
            '(50 megapixels by default); an animated image gives its first frame. Fitted to the video size ' +
            "per `input_fit`; with no size given, the preset whose aspect ratio is closest to the image's is used.",
        ),
      input_fit: z
        .enum(INPUT_FITS)
        .optional()
        .describe(
          'How input_reference is fitted to the video size: crop (default: scale to cover, cut the overflow ' +
            'evenly), pad (scale to fit inside, black bars), stretch (scale each axis on its own).',
        ),
      lora: z
        .array(
          z.strictObject({
            name: z.string().min(1).max(64).describe("An adapter name listed in the model's `loras`."),
            scale: z
              .number()
              .min(-MAX_LORA_SCALE)
              .max(MAX_LORA_SCALE)
              .default(1)
              .describe(`Adapter strength, ${-MAX_LORA_SCALE} to ${MAX_LORA_SCALE}; default 1.`),
          }),
        )
        .max(MAX_LORAS, `at most ${MAX_LORAS} adapters`)
        .optional()
        .describe(
          `LoRA adapters for this job only (at most ${MAX_LORAS}, each name once), from GET /v1/models \`loras\`. ` +
            'In multipart/form-data: the same array as a JSON string.',
        ),
      webhook_url: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .optional()
        .describe('Receives video.completed / video.failed / video.cancelled events.'),
      metadata: z
        .record(z.string().max(64), z.string().max(512))
        .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys')
        .optional()
        .describe('Up to 16 string pairs, returned as is.'),
      user: z
        .string()
        .min(1, 'must not be empty')
        .max(MAX_USER, `must be at most ${MAX_USER} characters`)
        .regex(NO_CONTROL_CHARS, 'must not contain control characters')
        .optional()
        .describe(
          `End-user identifier (up to ${MAX_USER} characters): stored and returned; the rate-limit ` +
            'identity when no API key identifies the caller.',
        ),
    })
    .describe('CreateVideoRequest');
}

export type CreateVideoBody = z.infer<ReturnType<typeof createVideoSchema>>;

const NUMERIC_FIELDS = [
  'width',
  'height',
  'num_frames',
  'fps',
  'seed',
  'num_inference_steps',
  'guidance_scale',
  'flow_shift',
];

/**
 * multipart/form-data sends every field as a string: convert numbers, and `metadata` and `lora`
 * from JSON. The OpenAI clients send a reference object as `input_reference[image_url]`.
 */
export function coerceMultipart(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...fields };
  for (const key of NUMERIC_FIELDS) {
    const v = out[key];
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) out[key] = Number(v);
  }
  for (const [key, what] of [
    ['metadata', 'a JSON object of strings'],
    ['lora', 'a JSON array such as [{"name": "style", "scale": 0.8}]'],
  ] as const) {
    if (typeof out[key] !== 'string') continue;
    try {
      out[key] = JSON.parse(out[key] as string);
    } catch {
      throw ApiError.badRequest(key, `${key} must be ${what}.`);
    }
  }
  for (const part of ['image_url', 'file_id'] as const) {
    const key = `input_reference[${part}]`;
    if (!(key in out)) continue;
    if ('input_reference' in out) {
      throw ApiError.badRequest('input_reference', 'input_reference is given more than once.');
    }
    out['input_reference'] = { [part]: out[key] };
    delete out[key];
  }
  return out;
}

/** Turns the first zod issue into a 400 that names the field. */
export function zodToApiError(error: z.ZodError, accepted: string[], input: unknown): ApiError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    return ApiError.badRequest(
      key,
      `Unknown field '${key}'. Accepted fields: ${accepted.join(', ')}.`,
      'unknown_field',
    );
  }
  const param = issue.path.map(String).join('.') || null;
  const given = issue.path.reduce<unknown>(
    (v, key) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined),
    input,
  );
  if (issue.code === 'invalid_type' && given === undefined) {
    return ApiError.badRequest(param, `Missing required field '${param}'.`, 'missing_field');
  }
  return ApiError.badRequest(param, `Invalid '${param}': ${issue.message}.`);
}

/** A create request with the model's presets applied: what the job service accepts, but for its caller. */
export type ResolvedCreate = Omit<NewJobRequest, 'caller'>;

/**
 * `lenient` snaps off-grid sizes and frame counts and reports it; `strict` makes each such
 * adjustment the 400 it names (RFC 7240 `Prefer: handling=strict`).
 */
export type Handling = 'lenient' | 'strict';

/** Applies presets, aliases, grid snapping and cross-field rules to a schema-valid body. */
export function resolveCreate(
  body: CreateVideoBody,
  model: ModelDescriptor,
  randomSeed: () => number,
  handling: Handling = 'lenient',
  /** The shown size of the request's image, when it has one: picks the preset when no size is given. */
  imageSize: { width: number; height: number } | null = null,
): ResolvedCreate {
  const p = model.presets;
  if (body.model !== undefined && body.model !== model.id && !model.aliases.includes(body.model)) {
    throw ApiError.badRequest(
      'model',
      `Unknown model '${body.model}'. Available: ${[model.id, ...model.aliases].join(', ')}.`,
    );
  }
  const adjusted: Adjustments = {};
  const strict = handling === 'strict';
  const { width, height } = resolveSize(body, model, adjusted, strict, imageSize);
  const loras = resolveLoras(body, model);

  const fps = body.fps ?? p.fps;
  let numFrames: number;
  let seconds: string;
  const step = p.frame_multiple;
  if (body.num_frames !== undefined) numFrames = snapFrames(body.num_frames, step);
  else numFrames = framesForSeconds(body.seconds ?? p.seconds.default, fps, step);
  if (numFrames < p.min_frames || numFrames > p.max_frames) {
    const field = body.num_frames !== undefined ? 'num_frames' : 'seconds';
    const asked =
      body.num_frames !== undefined
        ? `num_frames ${body.num_frames}`
        : `${body.seconds ?? p.seconds.default} s at ${fps} fps`;
    throw ApiError.badRequest(
      field,
      `${asked} is ${numFrames} frames; the model makes ${p.min_frames} to ${p.max_frames} frames ` +
        `(its maximum of ${p.max_frames} frames is ${secondsForFrames(p.max_frames, fps)} s at ${fps} fps).`,
    );
  }
  // Limits first: a value both off the grid and out of range is reported as out of range.
  if (body.num_frames !== undefined && numFrames !== body.num_frames) {
    if (strict) {
      throw ApiError.badRequest(
        'num_frames',
        `Invalid 'num_frames': ${body.num_frames} is not of the form ${step}k+1 (e.g. 17, 81, 121); ` +
          `the nearest is ${numFrames}. Refused under handling=strict.`,
      );
    }
    adjusted['num_frames'] = { requested: body.num_frames, used: numFrames };
  }
  if (body.seconds !== undefined) {
    const fromSeconds = framesForSeconds(body.seconds, fps, step);
    if (body.num_frames !== undefined && fromSeconds !== numFrames) {
      throw ApiError.badRequest(
        'num_frames',
        `num_frames ${body.num_frames} contradicts seconds ${body.seconds} at ${fps} fps (${fromSeconds} frames).`,
        'conflicting_fields',
      );
    }
    // Exact when seconds × fps is a whole number of frame intervals; else the nearest duration.
    const exact = Math.abs((fromSeconds - 1) / fps - body.seconds) < 1e-9;
    if (exact) {
      seconds = String(body.seconds);
    } else {
      seconds = secondsForFrames(fromSeconds, fps);
      if (strict) {
        throw ApiError.badRequest(
          'seconds',
          `Invalid 'seconds': ${body.seconds} s at ${fps} fps is not a whole number of ${step}-frame steps ` +
            `(frames are ${step}k+1); the nearest is ${seconds} s (${fromSeconds} frames). Refused under handling=strict.`,
        );
      }
      adjusted['seconds'] = { requested: String(body.seconds), used: seconds };
    }
  } else {
    seconds = secondsForFrames(numFrames, fps);
  }
  const budget = p.max_pixel_frames;
  if (budget !== null && width * height * numFrames > budget) {
    const size = `${width}x${height}`;
    // What fits at this size: the largest frame count of the model's rule within the budget.
    const fits = Math.floor((Math.floor(budget / (width * height)) - 1) / step) * step + 1;
    const hint =
      fits >= p.min_frames
        ? `at ${size} up to ${fits} frames (${secondsForFrames(fits, fps)} s at ${fps} fps) fit`
        : `a smaller size is needed`;
    throw ApiError.badRequest(
      body.num_frames !== undefined ? 'num_frames' : 'seconds',
      `${size} × ${numFrames} frames exceeds this deployment's GPU memory budget of ${budget} pixel-frames ` +
        `(T2V_MAX_PIXEL_FRAMES); ${hint}.`,
    );
  }
  return {
    model: model.id,
    seconds,
    seedExplicit: body.seed !== undefined,
    metadata: body.metadata ?? {},
    webhookUrl: body.webhook_url ?? null,
    user: body.user ?? null,
    adjusted,
    params: {
      prompt: body.prompt,
      // Absent or null: the worker applies the model's default (the card's negative_prompt); "" asks for none.
      negative_prompt: body.negative_prompt ?? null,
      width,
      height,
      num_frames: numFrames,
      fps,
      num_inference_steps: body.num_inference_steps ?? p.num_inference_steps.default,
      guidance_scale: body.guidance_scale ?? p.guidance_scale.default,
      seed: body.seed ?? randomSeed(),
      flow_shift: body.flow_shift ?? p.flow_shift,
      acceleration: body.acceleration ?? 'auto',
      // Filled in by the job service once the fitted image is stored beside the job's outputs.
      image: null,
      loras,
    },
    image: null,
  };
}

/** The request's adapters, each a name this deployment loaded (T2V_LORAS), each once. */
function resolveLoras(body: CreateVideoBody, model: ModelDescriptor): ResolvedCreate['params']['loras'] {
  const chosen = body.lora ?? [];
  if (chosen.length === 0) return [];
  if (model.loras.length === 0) {
    throw ApiError.badRequest(
      'lora',
      `${model.id} has no LoRA adapters on this server (T2V_LORAS is empty).`,
      'unknown_lora',
    );
  }
  const seen = new Set<string>();
  for (const { name } of chosen) {
    if (!model.loras.includes(name)) {
      throw ApiError.badRequest(
        'lora',
        `Unknown LoRA adapter '${name}'. Available: ${model.loras.join(', ')}.`,
        'unknown_lora',
      );
    }
    if (seen.has(name)) throw ApiError.badRequest('lora', `LoRA adapter '${name}' is given more than once.`);
    seen.add(name);
  }
  return chosen.map(({ name, scale }) => ({ name, scale }));
}

/** size or width+height → the snapped size within the model's limits (see snapSize). */
function resolveSize(
  body: CreateVideoBody,
  model: ModelDescriptor,
  adjusted: Adjustments,
  strict: boolean,
  imageSize: { width: number; height: number } | null,
): { width: number; height: number } {
  const p = model.presets;
  let requested: string | undefined = body.size;
  const separate = body.width !== undefined || body.height !== undefined;
  if (separate) {
    if (body.width === undefined || body.height === undefined) {
      const missing = body.width === undefined ? 'width' : 'height';
      throw ApiError.badRequest(missing, 'width and height must be given together.', 'missing_field');
    }
    const fromWH = `${body.width}x${body.height}`;
    if (body.size !== undefined && body.size !== fromWH) {
      throw ApiError.badRequest(
        'size',
        `size '${body.size}' contradicts width/height ${fromWH}.`,
        'conflicting_fields',
      );
    }
    requested = fromWH;
  }
  if (requested === undefined) {
    const size = imageSize
      ? presetForImage(p.sizes, p.default_size, imageSize.width, imageSize.height)
      : p.default_size;
    const [w, h] = size.split('x').map(Number) as [number, number];
    return { width: w, height: h };
  }
  const [rw, rh] = requested.split('x').map(Number) as [number, number];
  // Named after what the client sent: `size`, or the side(s) given separately.
  const field = body.size !== undefined || !separate ? 'size' : null;
  const limits =
    `sides must be ${p.size_multiple} to ${p.max_side} pixels (multiples of ${p.size_multiple}) and at ` +
    `most ${p.max_pixels} pixels in all. Tested presets: ${p.sizes.join(', ')}.`;
  const snapped = snapSize(rw, rh, p.size_multiple);
  if (snapped === null) {
    throw ApiError.badRequest(
      field ?? (rw < p.size_multiple ? 'width' : 'height'),
      `Unsupported size '${requested}': ${limits}`,
      'unsupported_size',
    );
  }
  const [width, height] = snapped;
  const used = `${width}x${height}`;
  if (width > p.max_side || height > p.max_side || width * height > p.max_pixels) {
    const onGrid = used === requested ? '' : ` (${used} on the ${p.size_multiple}-pixel grid)`;
    throw ApiError.badRequest(
      field ?? (width > p.max_side || width * height > p.max_pixels ? 'width' : 'height'),
      `Unsupported size '${requested}'${onGrid}: ${limits}`,
      'unsupported_size',
    );
  }
  if (used !== requested) {
    const changed = field
      ? [field]
      : (['width', 'height'] as const).filter((k) => (k === 'width' ? width !== rw : height !== rh));
    if (strict) {
      throw ApiError.badRequest(
        changed[0]!,
        `Unsupported size '${requested}': not on the model's ${p.size_multiple}-pixel grid; the nearest size ` +
          `is ${used}. Refused under handling=strict.`,
        'unsupported_size',
      );
    }
    if (field) adjusted['size'] = { requested, used };
    else {
      if (width !== rw) adjusted['width'] = { requested: rw, used: width };
      if (height !== rh) adjusted['height'] = { requested: rh, used: height };
    }
  }
  return { width, height };
}
