import { Inject, Injectable } from '@nestjs/common';
import { isTerminal } from '@t2v/contracts';

import type { HttpReply } from '../common/http';
import { type CreatePreferences, preferenceApplied } from '../common/prefer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CapacityService } from '../jobs/capacity.service';
import { EstimateService } from '../jobs/estimates';
import type { Job } from '../jobs/job.types';
import { JobsService } from '../jobs/jobs.service';
import type { Adjustments } from '../jobs/job.types';
import { ADJUSTED_HEADER, adjustedHeader, toVideoObject, type VideoObject } from '../wire/video.schema';

/**
 * Jobs as public video objects (with the queue position and why it waits while queued), and the
 * poll hint.
 */
@Injectable()
export class VideoPresenter {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'engine'>,
    private readonly jobs: JobsService,
    private readonly capacity: CapacityService,
    private readonly estimates: EstimateService,
  ) {}

  async present(job: Job): Promise<VideoObject> {
    if (job.status === 'in_progress') return toVideoObject(job, null, null, await this.estimateOf(job));
    if (job.status !== 'queued') return toVideoObject(job, null);
    const [position, reason, estimate] = await Promise.all([
      this.jobs.queuePosition(job),
      this.capacity.queueReason(),
      this.estimateOf(job),
    ]);
    return toVideoObject(job, position, reason, estimate);
  }

  /** An estimate is an extra: when the store cannot answer for it now, the object goes without. */
  private estimateOf(job: Job) {
    return this.estimates.of(job).catch(() => null);
  }

  /**
   * `Preference-Applied` and `t2v-adjusted` of a create's answer. The header tells what was done
   * to this request; the body is the job, which for an identical seeded request already in flight
   * is the first requester's (with its own `adjusted`).
   */
  setCreateHeaders(
    res: HttpReply,
    prefs: CreatePreferences,
    adjusted: Adjustments,
    waited: number | null,
  ): void {
    const applied = preferenceApplied(prefs, waited);
    if (applied) res.header('Preference-Applied', applied);
    const value = adjustedHeader(adjusted);
    if (value) res.header(ADJUSTED_HEADER, value);
  }

  /** `openai-poll-after-ms` on answers about a job that is not finished. */
  setPollHint(res: HttpReply, video: Pick<VideoObject, 'status'>): void {
    if (isTerminal(video.status)) return;
    const ms = this.config.engine === 'wan' ? 2000 : video.status === 'queued' ? 500 : 250;
    res.header('openai-poll-after-ms', String(ms));
  }
}
