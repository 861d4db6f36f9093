import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { ConflictError, type T2V, type Video, type VideoCreateParams, type VideoPreview } from '@t2v/sdk';

import { CliError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import type { CliIO, GlobalOptions } from '../io.js';
import { ProgressBar } from '../progress.js';

/** Options of `t2v generate`. */
export interface GenerateOptions {
  output?: string;
  size?: string;
  seconds?: string;
  seed?: number;
  steps?: number;
  negativePrompt?: string;
  guidanceScale?: number;
  fps?: number;
  model?: string;
  thumbnail?: string;
  poll?: boolean;
  /** commander's `--no-acceleration`: false asks for a full render (no step cache). */
  acceleration?: boolean;
  /** Image-to-video: a PNG, JPEG or WebP file to start from. */
  image?: string;
  /** How the image is fitted to the size: crop (default), pad or stretch. */
  fit?: 'crop' | 'pad' | 'stretch';
  /** LoRA adapters, `name` or `name=scale`, in order (repeatable). */
  lora?: Array<{ name: string; scale: number }>;
  /** Where to save each live preview as it arrives. */
  previewDir?: string;
  /** commander's `--no-preview`: false asks the server for no previews. */
  preview?: boolean;
}

/**
 * Saves each live preview as it is announced, one download at a time, in arrival order. A preview
 * the server no longer has (the job moved on or ended) is skipped: a newer one follows or the
 * video does.
 */
class PreviewSaver {
  private chain: Promise<void> = Promise.resolve();
  readonly saved: string[] = [];

  constructor(
    private readonly client: T2V,
    private readonly dir: string,
    private readonly signal: AbortSignal | undefined,
  ) {}

  add(preview: VideoPreview): void {
    const ext = preview.content_type === 'image/webp' ? 'webp' : 'jpg';
    const file = join(this.dir, `${preview.video_id}-step-${String(preview.step).padStart(3, '0')}.${ext}`);
    this.chain = this.chain.then(async () => {
      try {
        const { path } = await this.client.videos.downloadTo(preview.video_id, file, {
          variant: 'preview',
          signal: this.signal,
          maxRetries: 0,
        });
        this.saved.push(path);
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    });
  }

  done(): Promise<void> {
    return this.chain;
  }
}

/**
 * Creates a video, shows its progress, downloads it. Ctrl-C cancels the job on the server.
 */
export async function generate(
  client: T2V,
  prompt: string,
  options: GenerateOptions,
  global: GlobalOptions,
  io: CliIO,
) {
  const params: VideoCreateParams = { prompt };
  if (options.model !== undefined) params.model = options.model;
  if (options.size !== undefined) params.size = options.size;
  if (options.seconds !== undefined)
    params.seconds = /^\d+(\.\d+)?$/.test(options.seconds) ? Number(options.seconds) : options.seconds;
  if (options.seed !== undefined) params.seed = options.seed;
  if (options.steps !== undefined) params.num_inference_steps = options.steps;
  if (options.negativePrompt !== undefined) params.negative_prompt = options.negativePrompt;
  if (options.guidanceScale !== undefined) params.guidance_scale = options.guidanceScale;
  if (options.fps !== undefined) params.fps = options.fps;
  if (options.acceleration === false) params.acceleration = 'none';
  if (options.image !== undefined) {
    try {
      if (!statSync(options.image).isFile()) throw new Error('not a regular file');
    } catch (error) {
      throw new CliError(
        `--image: cannot read ${options.image}: ${(error as Error).message}`,
        ExitCode.USAGE,
      );
    }
    // The SDK uploads the file as multipart/form-data; the server checks and fits it.
    params.input_reference = options.image;
  }
  if (options.fit !== undefined) params.input_fit = options.fit;
  if (options.lora !== undefined) params.lora = options.lora;
  if (options.preview === false) {
    if (options.previewDir !== undefined)
      throw new CliError('--preview-dir and --no-preview contradict each other', ExitCode.USAGE);
    params.preview = false;
  }
  let previews: PreviewSaver | undefined;
  if (options.previewDir !== undefined) {
    try {
      mkdirSync(options.previewDir, { recursive: true });
    } catch (error) {
      throw new CliError(
        `--preview-dir: cannot create ${options.previewDir}: ${(error as Error).message}`,
        ExitCode.USAGE,
      );
    }
    previews = new PreviewSaver(client, options.previewDir, io.signal);
  }

  const started = Date.now();
  const bar = global.quiet ? undefined : new ProgressBar(io.stderr);
  let created: Video | undefined;
  let video: Video;
  try {
    video = await client.videos.createAndWait(params, {
      signal: io.signal,
      polling: options.poll === true,
      onProgress: (v) => {
        created ??= v;
        bar?.update(v);
      },
      ...(previews ? { onPreview: (p: VideoPreview) => previews.add(p) } : {}),
    });
    await previews?.done();
  } catch (error) {
    bar?.done();
    if (io.signal?.aborted && created) {
      // Interrupted while waiting: do not leave the job running for nobody.
      await client.videos.cancel(created.id, { timeout: 5000, maxRetries: 0 }).catch(() => undefined);
      io.stderr.write(`t2v: interrupted; cancelled ${created.id}\n`);
    }
    throw error;
  }
  bar?.done();

  if (video.status === 'failed') {
    throw new CliError(
      `Video ${video.id} failed: ${video.error?.message ?? 'no reason given'}`,
      ExitCode.VIDEO_FAILED,
      {
        video_id: video.id,
        code: video.error?.code ?? null,
      },
    );
  }
  if (video.status === 'cancelled') {
    throw new CliError(`Video ${video.id} was cancelled`, ExitCode.VIDEO_CANCELLED, { video_id: video.id });
  }

  const output = options.output ?? `${video.id}.mp4`;
  const download = await client.videos.downloadTo(video.id, output, { signal: io.signal });
  const thumbnail = options.thumbnail
    ? await client.videos.downloadTo(video.id, options.thumbnail, { variant: 'thumbnail', signal: io.signal })
    : undefined;

  if (global.json) {
    io.stdout.write(
      `${JSON.stringify({
        ...video,
        output: download.path,
        ...(thumbnail ? { thumbnail: thumbnail.path } : {}),
        ...(previews ? { previews: previews.saved } : {}),
      })}\n`,
    );
    return;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (previews && !global.quiet) {
    io.stderr.write(`${previews.saved.length} preview(s) in ${options.previewDir}\n`);
  }
  const cached = video.cached ? ', cached' : '';
  io.stdout.write(`${download.path}\n`);
  if (!global.quiet) {
    io.stderr.write(
      `${video.id}  ${video.size}, ${video.seconds}s, ${formatBytes(download.bytes)}, done in ${seconds}s${cached}\n`,
    );
  }
}
