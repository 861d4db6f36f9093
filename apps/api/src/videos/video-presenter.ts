import { Inject, Injectable } from '@nestjs/common';
import { isTerminal } from '@t2v/contracts';

import type { HttpReply } from '../common/http';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Job } from '../jobs/job.types';
import { JobsService } from '../jobs/jobs.service';
import { toVideoObject, type VideoObject } from '../wire/video.schema';

/** Jobs as public video objects (with the queue position while queued), and the poll hint. */
@Injectable()
export class VideoPresenter {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'engine'>,
    private readonly jobs: JobsService,
  ) {}

  async present(job: Job): Promise<VideoObject> {
    return toVideoObject(job, job.status === 'queued' ? await this.jobs.queuePosition(job) : null);
  }

  /** `openai-poll-after-ms` on answers about a job that is not finished. */
  setPollHint(res: HttpReply, video: Pick<VideoObject, 'status'>): void {
    if (isTerminal(video.status)) return;
    const ms = this.config.engine === 'wan' ? 2000 : video.status === 'queued' ? 500 : 250;
    res.header('openai-poll-after-ms', String(ms));
  }
}
