import { PassThrough } from 'node:stream';

import { isTerminal } from '@t2v/contracts';

import type { HttpReply } from '../common/http';
import type { JobEvents } from '../jobs/job-events';
import type { Job } from '../jobs/job.types';
import type { JobsService } from '../jobs/jobs.service';
import type { VideoObject } from '../wire/video.schema';
import type { VideoPresenter } from './video-presenter';

const PING_MS = 15_000;
const REFRESH_MS = 1000;

/**
 * One Server-Sent Events stream of one job: `video.<status>` on each change of status,
 * `video.progress` while it runs, each with the full video object; ends after the terminal event
 * or when the client goes away. A queued job is re-read each second (its position moves as
 * others finish, and why it waits changes as GPU workers start); a comment line every 15 s keeps proxies from closing an idle stream.
 */
export class JobEventStream {
  private readonly stream = new PassThrough();
  private closed = false;
  private lastSent = '';
  private sentInProgress = false;
  private unsubscribe: () => void = () => undefined;
  private refresh: NodeJS.Timeout | null = null;
  private ping: NodeJS.Timeout | null = null;

  constructor(
    private readonly id: string,
    private readonly deps: { events: JobEvents; jobs: JobsService; presenter: VideoPresenter },
  ) {}

  /** Starts streaming `job` (already read, so a missing job was a 404 before any byte). */
  async open(job: Job, res: HttpReply): Promise<void> {
    res.headers({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    void res.send(this.stream);
    this.unsubscribe = this.deps.events.subscribe(this.id, (j) => void this.send(j));
    this.refresh = setInterval(() => {
      void this.deps.jobs.get(this.id).then(
        (j) => this.send(j),
        () => this.close(),
      );
    }, REFRESH_MS);
    this.ping = setInterval(() => this.stream.write(': ping\n\n'), PING_MS);
    res.raw.on('close', () => this.close());
    await this.send(job);
  }

  private async send(job: Job): Promise<void> {
    if (this.closed) return;
    let video: VideoObject;
    try {
      video = await this.deps.presenter.present(job);
    } catch {
      return; // the store cannot answer now (Redis restarting): the next refresh sends it
    }
    const key = [
      video.status,
      video.progress,
      video.queue_position,
      video.queue_reason,
      video.estimated_start_at,
      video.estimated_completion_at,
    ].join(':');
    if (key === this.lastSent || this.closed) return;
    this.lastSent = key;
    let name = `video.${job.status}`;
    // The first event of each run is video.in_progress (a job handed back and run again starts
    // over), the rest of the run video.progress.
    if (job.status === 'in_progress') {
      if (this.sentInProgress) name = 'video.progress';
      this.sentInProgress = true;
    } else {
      this.sentInProgress = false;
    }
    this.stream.write(`event: ${name}\ndata: ${JSON.stringify(video)}\n\n`);
    if (isTerminal(job.status)) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.refresh) clearInterval(this.refresh);
    if (this.ping) clearInterval(this.ping);
    this.stream.end();
  }
}
