import type { DoneAcceleration, GenerateParams, JobErrorCode, JobStatus } from '@t2v/contracts';

export interface JobTimings {
  queue_s: number | null;
  load_s: number | null;
  inference_s: number | null;
  encode_s: number | null;
}

/** A request value changed to fit the model's grid (a size snapped, a frame count rounded). */
export interface Adjustment {
  requested: string | number;
  used: string | number;
}

/** Adjustments by request field (`size`, `width`, `height`, `num_frames`, `seconds`). */
export type Adjustments = Record<string, Adjustment>;

/** A job as the store keeps it. Times are unix milliseconds. */
export interface Job {
  id: string;
  /** Insertion order (listing; each caller's jobs are first in, first out on it). */
  seq: number;
  status: JobStatus;
  model: string;
  params: GenerateParams;
  /** Whether the client chose the seed (only those requests are cacheable). */
  seedExplicit: boolean;
  seconds: string;
  metadata: Record<string, string>;
  webhookUrl: string | null;
  /** The request's `user` (absent on records written before it existed). */
  user?: string | null;
  /** What was snapped to fit the model's grid (absent on records written before it existed). */
  adjusted?: Adjustments;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  expiresAt: number | null;
  progress: number;
  attempts: number;
  errorCode: JobErrorCode | null;
  errorMessage: string | null;
  cacheKey: string | null;
  cached: boolean;
  idempotencyKey: string | null;
  requestHash: string | null;
  timings: JobTimings;
  /**
   * Who the job is queued for (`key:<name>`, `sub:<subject>`, `user:<user>` or `anonymous`;
   * jobs/fair-queue.ts). Absent on records written before fair turns: `anonymous`.
   */
  caller?: string;
  /** Its place in the fair queue, set by the store at insert (absent on older records: 0). */
  turn?: number;
  /** The shared queue's delivery under which it runs (redis driver; the job's own id or another's). */
  carrier?: string | null;
  /** GPU-seconds used by runs that ended before the current one (wall time × GPUs in the group). */
  gpuSeconds?: number;
  /** What produced the video, as its worker reported (absent until it completes). */
  acceleration?: DoneAcceleration | null;
  /** Outputs removed after expiry; the record stays. */
  expired: boolean;
}

/** Fields a transition sets besides the status (the status is the transition's own `to`). */
export type JobPatch = Partial<Omit<Job, 'id' | 'seq' | 'createdAt' | 'status'>>;

export interface ListQuery {
  after?: string;
  limit: number;
  order: 'asc' | 'desc';
}

export interface ListPage {
  data: Job[];
  hasMore: boolean;
}

/** The conditioning image of a job, checked and fitted: a PNG at exactly the video's size, and its SHA-256. */
export interface FittedImage {
  png: Buffer;
  sha256: string;
  width: number;
  height: number;
}

/** What a validated create request asks for (the HTTP edge resolves presets before this). */
export interface NewJobRequest {
  model: string;
  params: GenerateParams;
  seconds: string;
  /** Whether the client chose the seed (only those requests are cacheable). */
  seedExplicit: boolean;
  metadata: Record<string, string>;
  webhookUrl: string | null;
  /** The request's `user`: stored, returned, the rate-limit identity when no key names the caller. */
  user: string | null;
  /** Who the job is queued and metered for (jobs/fair-queue.ts `callerOf`). */
  caller: string;
  /** What was changed to fit the model's grid: `{field: {requested, used}}`; empty when nothing. */
  adjusted: Adjustments;
  /**
   * The fitted conditioning image (image-to-video), not stored yet: the job service writes it
   * beside the job's outputs and sets `params.image` to it. `params.image` is null until then.
   */
  image: FittedImage | null;
}
