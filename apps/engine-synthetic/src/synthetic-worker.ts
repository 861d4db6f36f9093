import {
  NO_TRANSFORMER,
  PROTOCOL_VERSION,
  parseWorkerRequest,
  type GenerateRequest,
  type WorkerErrorCode,
  type WorkerEvent,
} from '@t2v/contracts';

import { blendFromImage, InputImageError, readInputImage } from './input-image';
import { encodeJpeg, previewDue, previewGrid } from './preview';
import { syntheticCard } from './synthetic-card';
import type { SyntheticConfig } from './synthetic.config';
import { TestPattern } from './test-pattern';
import { AbortedError, EncoderError, StorageError, encodeVideoAndThumbnail } from './video-encoder';

export interface WorkerIo {
  emit: (event: WorkerEvent) => void;
  log: (message: string) => void;
  exit: (code: number) => void;
}

interface RunningJob {
  jobId: string;
  controller: AbortController;
  step: number;
  total: number;
  done: Promise<void>;
}

/** Why a job's AbortController fired. */
type AbortReason = 'cancel' | 'stdin-closed';

const round3 = (seconds: number): number => Math.round(seconds * 1000) / 1000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The synthetic engine's request loop: one job at a time, progress per step, a real MP4 at the
 * end. Transport-free (events go through `io`) so the same class backs the process and its tests.
 */
export class SyntheticWorker {
  private current: RunningJob | null = null;
  private shuttingDown = false;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: SyntheticConfig,
    private readonly io: WorkerIo,
  ) {}

  start(loadSeconds: number): void {
    this.io.emit({
      type: 'ready',
      protocol: PROTOCOL_VERSION,
      device: 'cpu',
      load_s: round3(loadSeconds),
      card: syntheticCard(this.config),
    });
    this.heartbeat = setInterval(() => this.sendHeartbeat(), this.config.heartbeatIntervalMs);
  }

  handleLine(line: string): void {
    if (line.trim() === '') return;
    const parsed = parseWorkerRequest(line);
    if (!parsed.ok) {
      this.rejectMalformed(line, parsed.error);
      return;
    }
    const request = parsed.value;
    switch (request.type) {
      case 'generate':
        this.generate(request);
        return;
      case 'cancel':
        if (this.current?.jobId === request.job_id)
          this.current.controller.abort('cancel' satisfies AbortReason);
        return;
      case 'shutdown':
        if (this.shuttingDown) return;
        this.shuttingDown = true;
        void this.exitWhenIdle();
        return;
    }
  }

  /**
   * stdin closed. After a shutdown request the current job still finishes; without one the API is
   * gone and nobody will read the result, so the job is abandoned (temp files removed).
   */
  handleEndOfInput(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.current?.controller.abort('stdin-closed' satisfies AbortReason);
    void this.exitWhenIdle();
  }

  private async exitWhenIdle(): Promise<void> {
    await this.current?.done;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.io.exit(0);
  }

  private sendHeartbeat(): void {
    this.io.emit({
      type: 'heartbeat',
      gpu_mem_bytes: null,
      gpu_mem_total_bytes: null,
      rss_bytes: process.memoryUsage.rss(),
    });
  }

  /** A generate we cannot parse still gets an answer when it names its job, so the job fails fast. */
  private rejectMalformed(line: string, reason: string): void {
    this.io.log(`ignoring invalid request (${reason}): ${line.slice(0, 200)}`);
    try {
      const value = JSON.parse(line) as Record<string, unknown>;
      if (value?.['type'] === 'generate' && typeof value['job_id'] === 'string' && value['job_id'] !== '') {
        this.fail(value['job_id'], 'INVALID_PARAMS', `invalid generate request: ${reason}`);
      }
    } catch {
      // not JSON: nothing to answer
    }
  }

  private fail(jobId: string, code: WorkerErrorCode, message: string): void {
    this.io.emit({ type: 'error', job_id: jobId, code, message });
  }

  private generate(request: GenerateRequest): void {
    if (this.shuttingDown) return this.fail(request.job_id, 'ENGINE_ERROR', 'worker is shutting down');
    if (this.current) {
      return this.fail(request.job_id, 'ENGINE_ERROR', `worker is busy with job ${this.current.jobId}`);
    }
    const { width, height } = request.params;
    // yuv420p needs even sizes; the API only sends multiples of 32, but say so clearly if not.
    if (width % 2 !== 0 || height % 2 !== 0) {
      return this.fail(
        request.job_id,
        'INVALID_PARAMS',
        `width and height must be even, got ${width}x${height}`,
      );
    }
    const job: RunningJob = {
      jobId: request.job_id,
      controller: new AbortController(),
      step: 0,
      total: request.params.num_inference_steps,
      done: Promise.resolve(),
    };
    this.current = job;
    job.done = this.run(request, job)
      .catch((err: unknown) => this.reportFailure(job, err))
      .finally(() => {
        this.current = null;
      });
  }

  private async run(request: GenerateRequest, job: RunningJob): Promise<void> {
    const { params } = request;
    const signal = job.controller.signal;
    const started = performance.now();
    // Image-to-video: the clip starts on the image and fades into the pattern.
    const image = params.image ? await readInputImage(this.config.ffmpegPath, params.image) : null;
    const pattern = new TestPattern({
      prompt: params.prompt,
      seed: params.seed,
      width: params.width,
      height: params.height,
      loras: params.loras ?? [],
    });
    const render = image
      ? (i: number) => blendFromImage(image, pattern.renderFrame(i), i, params.num_frames)
      : (i: number) => pattern.renderFrame(i);
    let lastPreview: number | null = null;
    for (let step = 1; step <= job.total; step++) {
      await sleep(this.config.stepMs, signal);
      if (signal.aborted) throw new AbortedError(`cancelled at step ${job.step} of ${job.total}`);
      job.step = step;
      this.io.emit({ type: 'progress', job_id: job.jobId, step, total: job.total });
      if (
        params.preview &&
        previewDue(this.config.preview, step, job.total, lastPreview, performance.now())
      ) {
        lastPreview = performance.now();
        await this.preview(job, request, render, step);
      }
    }
    const inferenceS = (performance.now() - started) / 1000;

    const encodeStarted = performance.now();
    await encodeVideoAndThumbnail({
      ffmpegPath: this.config.ffmpegPath,
      width: params.width,
      height: params.height,
      fps: params.fps,
      numFrames: params.num_frames,
      renderFrame: render,
      thumbnailFrame: Math.floor(params.num_frames / 2),
      outPath: request.out_path,
      thumbnailPath: request.thumbnail_path,
      signal,
    });
    const encodeS = (performance.now() - encodeStarted) / 1000;

    this.io.emit({
      type: 'done',
      job_id: job.jobId,
      path: request.out_path,
      thumbnail_path: request.thumbnail_path,
      frames: params.num_frames,
      fps: params.fps,
      width: params.width,
      height: params.height,
      timings: { inference_s: round3(inferenceS), encode_s: round3(encodeS) },
      // No transformer: nothing to cache, compile or count.
      acceleration: { ...NO_TRANSFORMER },
    });
  }

  /** One preview of the frames to come; a failure is logged and the job goes on. */
  private async preview(
    job: RunningJob,
    request: GenerateRequest,
    render: (i: number) => Buffer,
    step: number,
  ): Promise<void> {
    const { width, height, num_frames: frames, seed } = request.params;
    try {
      const grid = previewGrid(render, { width, height, frames }, step, job.total, seed + step);
      const jpeg = await encodeJpeg(this.config.ffmpegPath, grid.rgb, grid.width, grid.height);
      this.io.emit({
        type: 'preview',
        job_id: job.jobId,
        step,
        total: job.total,
        mime: 'image/jpeg',
        width: grid.width,
        height: grid.height,
        data: jpeg.toString('base64'),
      });
    } catch (err) {
      this.io.log(`job ${job.jobId}: preview at step ${step} failed: ${(err as Error).message}`);
    }
  }

  private reportFailure(job: RunningJob, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof AbortedError) {
      const where =
        job.step < job.total ? `cancelled at step ${job.step} of ${job.total}` : 'cancelled while encoding';
      return this.fail(job.jobId, 'CANCELLED', where);
    }
    this.io.log(`job ${job.jobId} failed: ${message}`);
    if (err instanceof InputImageError) return this.fail(job.jobId, 'INVALID_PARAMS', message);
    if (err instanceof StorageError) return this.fail(job.jobId, 'STORAGE_ERROR', message);
    if (err instanceof EncoderError) return this.fail(job.jobId, 'ENGINE_ERROR', message);
    this.fail(job.jobId, 'ENGINE_ERROR', `unexpected failure: ${message}`);
  }
}
