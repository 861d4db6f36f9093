/** Lifecycle of a video job. `completed` only once the MP4 is fully written and renamed into place. */
export const JOB_STATUSES = ['queued', 'in_progress', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Why a job failed. Closed set: every failed job carries exactly one of these. */
export const JOB_ERROR_CODES = [
  'INVALID_PARAMS',
  'GPU_OOM',
  'WORKER_CRASHED',
  'WORKER_TIMEOUT',
  'ENGINE_ERROR',
  'MODEL_LOAD_FAILED',
  'STORAGE_ERROR',
  'INTERRUPTED',
  'EXPIRED',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

/**
 * Why a queued job waits (the video object's `queue_reason`): no GPU worker has the model loaded
 * (`gpu_capacity`: starting, or the GPU tier scaling up from zero), every loaded one is busy
 * (`workers_busy`), or every worker failed permanently (`workers_failed`).
 */
export const QUEUE_REASONS = ['gpu_capacity', 'workers_busy', 'workers_failed'] as const;
export type QueueReason = (typeof QUEUE_REASONS)[number];
