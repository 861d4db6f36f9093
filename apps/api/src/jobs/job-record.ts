import { ulid } from 'ulid';

import type { Job } from './job.types';

function newJobId(): string {
  return `video_${ulid()}`;
}

/**
 * The one way a job record is made: a fresh queued job with nothing run yet, with `fields`
 * applied over those defaults. The job service builds records with it, and so do the tests.
 */
export function newJobRecord(
  fields: Pick<Job, 'model' | 'params'> & Partial<Omit<Job, 'seq'>>,
  now = Date.now(),
): Omit<Job, 'seq'> {
  return {
    id: newJobId(),
    status: 'queued',
    seedExplicit: false,
    seconds: '1',
    metadata: {},
    webhookUrl: null,
    user: null,
    adjusted: {},
    createdAt: now,
    startedAt: null,
    completedAt: null,
    expiresAt: null,
    progress: 0,
    attempts: 0,
    errorCode: null,
    errorMessage: null,
    cacheKey: null,
    cached: false,
    idempotencyKey: null,
    requestHash: null,
    timings: { queue_s: null, load_s: null, inference_s: null, encode_s: null },
    expired: false,
    ...fields,
  };
}
