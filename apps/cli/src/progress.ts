import type { Video } from '@t2v/sdk';

import { formatTime } from './format.js';
import type { OutputStream } from './io.js';

const BAR_WIDTH = 30;

/**
 * The live progress line of `t2v generate` on stderr: the queue position while queued, then a
 * bar with the denoising step. On a TTY it redraws one line; in a pipe or log it prints a line per
 * status change and per 10 % so logs stay short.
 */
export class ProgressBar {
  private lastLine = '';
  private lastBucket = -1;
  private lastStatus = '';
  private drawn = false;

  constructor(private readonly stream: OutputStream) {}

  /** Shows the state of `video`. */
  update(video: Video): void {
    const line = describe(video);
    if (this.stream.isTTY) {
      if (line === this.lastLine) return;
      const width = (this.stream.columns ?? 80) - 1;
      this.stream.write(`\r\x1b[K${line.slice(0, width)}`);
      this.drawn = true;
    } else {
      const bucket = Math.floor(video.progress / 10);
      const changed =
        video.status !== this.lastStatus ||
        (video.status === 'in_progress' && bucket !== this.lastBucket) ||
        (video.status === 'queued' && line !== this.lastLine);
      if (!changed) return;
      this.lastBucket = bucket;
      this.lastStatus = video.status;
      this.stream.write(`${line}\n`);
    }
    this.lastLine = line;
  }

  /** Ends the line so later output starts on a fresh one. */
  done(): void {
    if (this.stream.isTTY && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** Why a queued video waits (`queue_reason`), as the progress line says it. */
const WAITING_FOR: Record<string, string> = {
  gpu_capacity: 'waiting for a GPU to start',
  workers_busy: 'workers busy',
  workers_failed: 'no worker can run it',
};

/** The server's estimate of completion, when it has one (it gives none before it has data). */
function eta(video: Video): string {
  const at = video.estimated_completion_at;
  return at === undefined ? '' : `  ETA ${formatTime(at).slice(11, 19)} UTC`;
}

/** One line describing where a video is: queue position and why it waits, or progress and step. */
export function describe(video: Video): string {
  switch (video.status) {
    case 'queued': {
      const line =
        video.queue_position === null || video.queue_position === undefined
          ? `${video.id}  queued`
          : `${video.id}  queued, position ${video.queue_position}`;
      const why = video.queue_reason ? WAITING_FOR[video.queue_reason] : undefined;
      return `${why ? `${line} (${why})` : line}${eta(video)}`;
    }
    case 'in_progress': {
      const pct = Math.max(0, Math.min(100, Math.round(video.progress)));
      const filled = Math.round((pct / 100) * BAR_WIDTH);
      const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
      const steps = video.num_inference_steps;
      const step = steps ? `  step ${Math.min(steps, Math.round((pct / 100) * steps))}/${steps}` : '';
      return `${video.id}  ${bar} ${String(pct).padStart(3)}%${step}${eta(video)}`;
    }
    default:
      return `${video.id}  ${video.status}`;
  }
}
