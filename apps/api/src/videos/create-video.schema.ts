import { z } from 'zod';

import { ACCELERATION_MODES, type GenerateParams } from '@t2v/contracts';

import { ApiError } from '../common/api-error';
import { framesForSeconds, type ModelDescriptor, secondsForFrames } from '../models/model-presets';

const MAX_SEED = 2 ** 32 - 1;

/** The create request body. Unknown fields are rejected; names follow OpenAI and vLLM-Omni. */
export function createVideoSchema(model: ModelDescriptor) {
  const p = model.presets;
  return z
    .strictObject({
      prompt: z
        .string()
        .trim()
        .min(1, 'must not be empty')
        .max(p.max_prompt_length, `must be at most ${p.max_prompt_length} characters`)
        .describe('What the video shows.'),
      model: z.string().optional().describe(`Model id; defaults to the loaded model (${model.id}).`),
      seconds: z
        .union([z.number(), z.string().regex(/^\d+(\.\d+)?$/, 'must be a number of seconds, e.g. "4"')])
        .transform(Number)
        .pipe(z.number().min(p.seconds.min).max(p.seconds.max))
        .optional()
        .describe(`Duration in seconds (${p.seconds.min}-${p.seconds.max}); string or number.`),
      size: z
        .string()
        .regex(/^\d+x\d+$/, 'must be "WIDTHxHEIGHT", e.g. "1280x704"')
        .optional()
        .describe(`One of the model presets: ${p.sizes.join(', ')}.`),
      width: z.number().int().positive().optional().describe('Alternative to size, with height.'),
      height: z.number().int().positive().optional().describe('Alternative to size, with width.'),
      num_frames: z
        .number()
        .int()
        .min(5)
        .max(p.max_frames)
        .refine((n) => (n - 1) % 4 === 0, 'must be of the form 4k+1, e.g. 17, 81, 121')
        .optional()
        .describe('Alternative to seconds: frame count of the form 4k+1.'),
      fps: z.number().int().min(p.fps_range.min).max(p.fps_range.max).optional(),
      negative_prompt: z.string().max(p.max_prompt_length).nullable().optional(),
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

/** multipart/form-data sends every field as a string: convert numbers and metadata JSON. */
export function coerceMultipart(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...fields };
  for (const key of NUMERIC_FIELDS) {
    const v = out[key];
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) out[key] = Number(v);
  }
  if (typeof out['metadata'] === 'string') {
    try {
      out['metadata'] = JSON.parse(out['metadata'] as string);
    } catch {
      throw ApiError.badRequest('metadata', 'metadata must be a JSON object of strings.');
    }
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

export interface ResolvedCreate {
  model: string;
  params: GenerateParams;
  seconds: string;
  seedExplicit: boolean;
  metadata: Record<string, string>;
  webhookUrl: string | null;
}

/** Applies presets and cross-field rules to a schema-valid body. */
export function resolveCreate(
  body: CreateVideoBody,
  model: ModelDescriptor,
  randomSeed: () => number,
): ResolvedCreate {
  const p = model.presets;
  if (body.model !== undefined && body.model !== model.id) {
    throw ApiError.badRequest('model', `Unknown model '${body.model}'. Available: ${model.id}.`);
  }
  let size = body.size;
  if (body.width !== undefined || body.height !== undefined) {
    if (body.width === undefined || body.height === undefined) {
      const missing = body.width === undefined ? 'width' : 'height';
      throw ApiError.badRequest(missing, 'width and height must be given together.', 'missing_field');
    }
    const fromWH = `${body.width}x${body.height}`;
    if (size !== undefined && size !== fromWH) {
      throw ApiError.badRequest(
        'size',
        `size '${size}' contradicts width/height ${fromWH}.`,
        'conflicting_fields',
      );
    }
    size = fromWH;
  }
  size ??= p.default_size;
  if (!p.sizes.includes(size)) {
    throw ApiError.badRequest(
      body.size !== undefined ? 'size' : 'width',
      `Unsupported size '${size}'. Supported sizes: ${p.sizes.join(', ')}.`,
      'unsupported_size',
    );
  }
  const [width, height] = size.split('x').map(Number) as [number, number];
  const fps = body.fps ?? p.fps;
  let numFrames: number;
  let seconds: string;
  if (body.num_frames !== undefined) {
    numFrames = body.num_frames;
    if (body.seconds !== undefined && framesForSeconds(body.seconds, fps) !== numFrames) {
      throw ApiError.badRequest(
        'num_frames',
        `num_frames ${numFrames} contradicts seconds ${body.seconds} at ${fps} fps (${framesForSeconds(body.seconds, fps)} frames).`,
        'conflicting_fields',
      );
    }
    seconds = body.seconds !== undefined ? String(body.seconds) : secondsForFrames(numFrames, fps);
  } else {
    const s = body.seconds ?? p.seconds.default;
    numFrames = framesForSeconds(s, fps);
    seconds = String(s);
  }
  if (numFrames > p.max_frames) {
    throw ApiError.badRequest(
      body.num_frames !== undefined ? 'num_frames' : 'seconds',
      `${numFrames} frames at ${fps} fps exceeds the model's maximum of ${p.max_frames} frames.`,
    );
  }
  const budget = p.max_pixel_frames;
  if (budget !== null && width * height * numFrames > budget) {
    // What fits at this size: the largest 4k+1 frame count within the budget.
    const fits = Math.floor((Math.floor(budget / (width * height)) - 1) / 4) * 4 + 1;
    const hint =
      fits >= 5
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
    params: {
      prompt: body.prompt,
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
    },
  };
}
