import { Injectable } from '@nestjs/common';

import type { Job, NewJobRequest } from '../jobs/job.types';
import { JobsService } from '../jobs/jobs.service';

/**
 * Create a job, then wait (bounded) for it to finish: the one skeleton behind `Prefer: wait=N`
 * on POST /v1/videos, POST /v1/videos/sync and GET /generate.
 */
@Injectable()
export class CreateAndWait {
  constructor(private readonly jobs: JobsService) {}

  /**
   * The job as it is once terminal, or when `waitMs` passes or `signal` aborts (the client went
   * away). With `waitMs` 0 it answers at once, with the job as it is now (it may have started).
   */
  async run(
    request: NewJobRequest,
    idempotencyKey: string | null,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<Job> {
    const job = await this.jobs.create(request, idempotencyKey);
    if (waitMs <= 0) return this.jobs.get(job.id);
    return this.jobs.waitForTerminal(job.id, waitMs, signal);
  }
}
