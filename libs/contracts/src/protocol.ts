/**
 * Worker protocol: JSON lines. The API writes requests to the worker's stdin, the worker writes
 * events to its stdout and free-form logs to stderr. Every engine (synthetic Node worker, Python
 * `wan` / `wan-tiny`) speaks exactly this. Golden fixtures in `fixtures/protocol/*.jsonl` are read
 * by the TypeScript and the Python test suites alike.
 */
import {
  CARD_SHAPE,
  cardProblem,
  type ModelCard,
  TRANSFORMER_WEIGHTS,
  type TransformerWeights,
} from './card';
import {
  absPath,
  bool,
  arrayOf,
  type Check,
  checkShape,
  isRecord,
  nonEmpty,
  nonNegInt,
  nonNegNum,
  nullable,
  num,
  obj,
  oneOf,
  posInt,
  sha256Hex,
  str,
} from './checks';
import { JOB_ERROR_CODES, type JobErrorCode } from './job';

export const PROTOCOL_VERSION = 4;

/**
 * Exit status of a worker whose model load failed in a way no restart can heal (a missing module,
 * a wrong model path, a bad setting): sysexits' EX_CONFIG. The supervisor says so once and stops
 * restarting it. Any other exit before `ready` is retried with backoff. Same value as
 * `EXIT_PERMANENT` in the Python worker's protocol.py.
 */
export const WORKER_EXIT_PERMANENT = 78;

/**
 * `auto`: the deployment's step cache and compiled blocks apply. `none`: the job runs every step in
 * full (a reference-quality render); compiled blocks still apply since they compute the same thing.
 */
export const ACCELERATION_MODES = ['auto', 'none'] as const;
export type AccelerationMode = (typeof ACCELERATION_MODES)[number];

/**
 * The conditioning image of an image-to-video job. The API has already decoded, checked and fitted
 * it to the job's exact width×height and stored it as a PNG beside the job's outputs (the shared
 * volume in Kubernetes), so the worker reads a path, never bytes on stdio, and never resizes.
 */
export interface ImageInput {
  /** Absolute path of the fitted PNG. */
  path: string;
  /** SHA-256 (hex) of the fitted PNG's bytes; part of the cache and dedupe keys. */
  sha256: string;
  width: number;
  height: number;
}

/** One LoRA adapter chosen for a job: a name the worker loaded at start, and its strength. */
export interface LoraChoice {
  name: string;
  /** Adapter weight; 0 disables it, 1 is its trained strength. */
  scale: number;
}

/** Parameters the API resolved for one generation. Sizes and frame counts are already valid. */
export interface GenerateParams {
  prompt: string;
  negative_prompt: string | null;
  width: number;
  height: number;
  /** Always 4k+1. */
  num_frames: number;
  fps: number;
  num_inference_steps: number;
  guidance_scale: number;
  seed: number;
  flow_shift: number | null;
  acceleration: AccelerationMode;
  /** Image-to-video when set: the first frame is conditioned on this image. */
  image: ImageInput | null;
  /** Adapters applied for this job only, in order; empty for none. */
  loras: LoraChoice[];
  /** Live previews (`preview` events) while it denoises, unless the request turned them off. */
  preview: boolean;
}

export interface GenerateRequest {
  type: 'generate';
  job_id: string;
  params: GenerateParams;
  /** Final MP4 path. The worker writes a temp file beside it, fsyncs and renames. */
  out_path: string;
  /** Final thumbnail (JPEG) path, written the same way. */
  thumbnail_path: string;
}
export interface CancelRequest {
  type: 'cancel';
  job_id: string;
}
export interface ShutdownRequest {
  type: 'shutdown';
}
export type WorkerRequest = GenerateRequest | CancelRequest | ShutdownRequest;

/** The model is loaded (and warmed up): the worker takes jobs from now on. */
export interface ReadyEvent {
  type: 'ready';
  protocol: number;
  device: string;
  load_s: number;
  /** What the loaded model accepts and defaults to; the API serves and validates from it. */
  card: ModelCard;
}
export interface ProgressEvent {
  type: 'progress';
  job_id: string;
  step: number;
  total: number;
}
/** Encodings a worker may give a preview in. */
export const PREVIEW_MIMES = ['image/webp', 'image/jpeg'] as const;
export type PreviewMime = (typeof PREVIEW_MIMES)[number];
/** A preview's largest size in bytes (before base64): small on the wire and in the API's memory. */
export const MAX_PREVIEW_BYTES = 256 * 1024;
/**
 * A live preview: a small picture (a grid of a few frames) of the job's current estimate of the
 * clean video after `step` of `total` steps, made without the VAE. Never at step 0.
 */
export interface PreviewEvent {
  type: 'preview';
  job_id: string;
  step: number;
  total: number;
  mime: PreviewMime;
  /** Pixel size of the picture (the grid), not of the video. */
  width: number;
  height: number;
  /** The encoded picture, base64. */
  data: string;
}
export interface JobTimings {
  inference_s: number;
  encode_s: number;
}
/** What produced a finished video. */
export interface DoneAcceleration {
  /** Step cache in effect: `off` or `first-block:<threshold>`. */
  cache: string;
  /** `off` or `blocks`. */
  compile: string;
  /** Attention backend the transformer ran with; null for engines without one. */
  attention: string | null;
  /** Transformer passes actually computed (a pass served from the step cache is not counted). */
  passes: number | null;
  /** Passes a plain run computes: steps, times 2 with classifier-free guidance. */
  planned_passes: number | null;
  /** The transformer's weights (`T2V_TRANSFORMER_WEIGHTS`); null for an engine without one. */
  weights: TransformerWeights | null;
}
/** `done.acceleration` of an engine with no transformer: nothing cached, compiled, counted or quantised. */
export const NO_TRANSFORMER: DoneAcceleration = {
  cache: 'off',
  compile: 'off',
  attention: null,
  passes: null,
  planned_passes: null,
  weights: null,
};
export interface DoneEvent {
  type: 'done';
  job_id: string;
  path: string;
  thumbnail_path: string;
  frames: number;
  fps: number;
  width: number;
  height: number;
  timings: JobTimings;
  acceleration: DoneAcceleration;
}
/** Worker-side failure codes: a subset of the job error codes, plus CANCELLED. */
export const WORKER_ERROR_CODES = [
  'CANCELLED',
  'INVALID_PARAMS',
  'GPU_OOM',
  'ENGINE_ERROR',
  'MODEL_LOAD_FAILED',
  'STORAGE_ERROR',
] as const;
export type WorkerErrorCode = (typeof WORKER_ERROR_CODES)[number];
export interface ErrorEvent {
  type: 'error';
  /** null for errors outside a job (e.g. model load failure, which is followed by exit). */
  job_id: string | null;
  code: WorkerErrorCode;
  message: string;
}
export interface HeartbeatEvent {
  type: 'heartbeat';
  /** Bytes allocated on the GPU, or null on CPU. */
  gpu_mem_bytes: number | null;
  gpu_mem_total_bytes: number | null;
  rss_bytes: number | null;
}
export type WorkerEvent = ReadyEvent | ProgressEvent | PreviewEvent | DoneEvent | ErrorEvent | HeartbeatEvent;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const paramsShape: Record<string, Check> = {
  prompt: nonEmpty,
  negative_prompt: nullable(str),
  width: posInt,
  height: posInt,
  num_frames: (v) => posInt(v) && ((v as number) - 1) % 4 === 0,
  fps: posInt,
  num_inference_steps: posInt,
  guidance_scale: nonNegNum,
  seed: nonNegInt,
  flow_shift: nullable(num),
  acceleration: oneOf(ACCELERATION_MODES),
  image: nullable(obj({ path: absPath, sha256: sha256Hex, width: posInt, height: posInt })),
  loras: arrayOf(obj({ name: nonEmpty, scale: num })),
  preview: bool,
};

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const previewData: Check = (v) =>
  typeof v === 'string' &&
  v.length > 0 &&
  v.length <= 4 * Math.ceil(MAX_PREVIEW_BYTES / 3) &&
  v.length % 4 === 0 &&
  BASE64.test(v);

const requestShapes: Record<WorkerRequest['type'], Record<string, Check>> = {
  generate: {
    type: str,
    job_id: nonEmpty,
    params: obj(paramsShape),
    out_path: nonEmpty,
    thumbnail_path: nonEmpty,
  },
  cancel: { type: str, job_id: nonEmpty },
  shutdown: { type: str },
};

const eventShapes: Record<WorkerEvent['type'], Record<string, Check>> = {
  ready: {
    type: str,
    protocol: posInt,
    device: nonEmpty,
    load_s: nonNegNum,
    card: obj(CARD_SHAPE),
  },
  progress: {
    type: str,
    job_id: nonEmpty,
    step: nonNegInt,
    total: posInt,
  },
  preview: {
    type: str,
    job_id: nonEmpty,
    step: posInt,
    total: posInt,
    mime: oneOf(PREVIEW_MIMES),
    width: posInt,
    height: posInt,
    data: previewData,
  },
  done: {
    type: str,
    job_id: nonEmpty,
    path: nonEmpty,
    thumbnail_path: nonEmpty,
    frames: posInt,
    fps: posInt,
    width: posInt,
    height: posInt,
    timings: obj({ inference_s: nonNegNum, encode_s: nonNegNum }),
    acceleration: obj({
      cache: nonEmpty,
      compile: nonEmpty,
      attention: nullable(nonEmpty),
      passes: nullable(nonNegInt),
      planned_passes: nullable(nonNegInt),
      weights: nullable(oneOf(TRANSFORMER_WEIGHTS)),
    }),
  },
  error: {
    type: str,
    job_id: nullable(nonEmpty),
    code: oneOf(WORKER_ERROR_CODES),
    message: str,
  },
  heartbeat: {
    type: str,
    gpu_mem_bytes: nullable(nonNegInt),
    gpu_mem_total_bytes: nullable(nonNegInt),
    rss_bytes: nullable(nonNegInt),
  },
};

function parseWith<T>(line: string, shapes: Record<string, Record<string, Check>>): ParseResult<T> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (!isRecord(value) || typeof value['type'] !== 'string') return { ok: false, error: 'missing "type"' };
  const shape = shapes[value['type']];
  if (!shape) return { ok: false, error: `unknown type "${value['type']}"` };
  const problem = checkShape(value, shape);
  if (problem) return { ok: false, error: `${value['type']}: ${problem}` };
  if (value['type'] === 'ready') {
    const problem = cardProblem(value['card'] as ModelCard);
    if (problem) return { ok: false, error: `ready: card: ${problem}` };
  }
  if (
    (value['type'] === 'progress' || value['type'] === 'preview') &&
    (value['step'] as number) > (value['total'] as number)
  ) {
    return { ok: false, error: `${value['type']}: step greater than total` };
  }
  if (value['type'] === 'generate') {
    const params = value['params'] as unknown as GenerateParams;
    if (params.image && (params.image.width !== params.width || params.image.height !== params.height)) {
      return { ok: false, error: 'generate: image size differs from width×height' };
    }
  }
  return { ok: true, value: value as T };
}

/** Parses one line the worker wrote on stdout. Strict: unknown types and fields are rejected. */
export function parseWorkerEvent(line: string): ParseResult<WorkerEvent> {
  return parseWith<WorkerEvent>(line, eventShapes);
}

/** Parses one line the API wrote on the worker's stdin. */
export function parseWorkerRequest(line: string): ParseResult<WorkerRequest> {
  return parseWith<WorkerRequest>(line, requestShapes);
}

/** One line on the wire, newline-terminated. */
export function encodeMessage(message: WorkerRequest | WorkerEvent): string {
  return JSON.stringify(message) + '\n';
}

export function isJobErrorCode(code: string): code is JobErrorCode {
  return (JOB_ERROR_CODES as readonly string[]).includes(code);
}
