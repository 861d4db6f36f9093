import type { Video } from '@t2v/sdk';

import { describe as describeVideo, ProgressBar } from './progress.js';
import { captureStream } from './testing/capture.js';

const base = {
  id: 'video_1',
  num_inference_steps: 20,
  queue_position: null,
  progress: 0,
} as unknown as Video;
const at = (patch: Partial<Video>): Video => ({ ...base, ...patch }) as Video;

describe('progress line', () => {
  it('describes queue position, then bar and step, then the end state', () => {
    expect(describeVideo(at({ status: 'queued', queue_position: 3 }))).toBe('video_1  queued, position 3');
    expect(describeVideo(at({ status: 'queued', queue_position: 1, queue_reason: 'gpu_capacity' }))).toBe(
      'video_1  queued, position 1 (waiting for a GPU to start)',
    );
    const running = describeVideo(at({ status: 'in_progress', progress: 50 }));
    expect(running).toMatch(/^video_1  █{15}░{15}  50%  step 10\/20$/);
    expect(describeVideo(at({ status: 'completed', progress: 100 }))).toBe('video_1  completed');
  });

  it('adds the estimated completion when the server gives one', () => {
    const eta = { estimated_start_at: 1_796_000_000, estimated_completion_at: 1_796_000_125 };
    expect(describeVideo(at({ status: 'queued', queue_position: 2, ...eta }))).toBe(
      'video_1  queued, position 2  ETA 00:55:25 UTC',
    );
    expect(describeVideo(at({ status: 'in_progress', progress: 50, ...eta }))).toMatch(
      /step 10\/20  ETA 00:55:25 UTC$/,
    );
  });

  it('redraws one line on a TTY and ends it', () => {
    const tty = captureStream(true);
    const bar = new ProgressBar(tty);
    bar.update(at({ status: 'queued', queue_position: 2 }));
    bar.update(at({ status: 'in_progress', progress: 5 }));
    bar.update(at({ status: 'in_progress', progress: 5 }));
    bar.done();
    expect(tty.text().split('\r\x1b[K')).toHaveLength(3);
    expect(tty.text().endsWith('\n')).toBe(true);
  });

  it('prints a line per status and per 10 % in a pipe', () => {
    const pipe = captureStream(false);
    const bar = new ProgressBar(pipe);
    bar.update(at({ status: 'queued', queue_position: 2 }));
    bar.update(at({ status: 'queued', queue_position: 2 }));
    bar.update(at({ status: 'queued', queue_position: 1 }));
    for (let p = 0; p <= 100; p += 5) bar.update(at({ status: 'in_progress', progress: p }));
    bar.update(at({ status: 'completed', progress: 100 }));
    const lines = pipe.text().trim().split('\n');
    expect(lines).toHaveLength(2 + 11 + 1);
  });
});
