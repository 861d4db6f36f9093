import type { DoneAcceleration, GenerateParams, JobErrorCode, JobStatus } from '@t2v/contracts';

export interface JobTimings {
  queue_s: number | null;
  load_s: number | null;
  inference_s: number | null;
  encode_s: number | null;
}

/** A job as the store keeps it. Times are unix milliseconds. */
export interface Job {
  id: string;
  /** Insertion order; the queue is FIFO on it. */
  seq: number;
  status: JobStatus;
  model: string;
  params: GenerateParams;
  /** Whether the client chose the seed (only those requests are cacheable). */
  seedExplicit: boolean;
  seconds: string;
  metadata: Record<string, string>;
  webhookUrl: string | null;
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
  /** What produced the video, as its worker reported (absent until it completes). */
  acceleration?: DoneAcceleration | null;
  /** Outputs removed after expiry; the record stays. */
  expired: boolean;
}

export type JobPatch = Partial<Omit<Job, 'id' | 'seq' | 'createdAt'>>;

export interface ListQuery {
  after?: string;
  limit: number;
  order: 'asc' | 'desc';
}

export interface ListPage {
  data: Job[];
  hasMore: boolean;
}
