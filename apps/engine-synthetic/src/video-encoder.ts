import { spawn } from 'node:child_process';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join, parse } from 'node:path';

/** The output location cannot be written (missing directory, read-only, full disk...). */
export class StorageError extends Error {}
/** ffmpeg could not be started or failed for a reason other than storage. */
export class EncoderError extends Error {}
/** The job was aborted (cancel request or stdin closed) while encoding. */
export class AbortedError extends Error {}

const STORAGE_ERRNOS = new Set([
  'ENOENT',
  'ENOTDIR',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EISDIR',
]);
const STORAGE_STDERR =
  /No space left on device|Read-only file system|Permission denied|Disk quota exceeded|Input\/output error/i;

export interface EncodeJob {
  ffmpegPath: string;
  width: number;
  height: number;
  fps: number;
  numFrames: number;
  /** Frame `i` as packed rgb24; called once per frame, in order. */
  renderFrame: (index: number) => Buffer;
  /** Which frame becomes the thumbnail. */
  thumbnailFrame: number;
  outPath: string;
  thumbnailPath: string;
  signal: AbortSignal;
}

/** `.<name>.<pid>.tmp<ext>` beside the final file, so the rename stays on one filesystem. */
export function tempPathFor(finalPath: string, pid = process.pid): string {
  const { dir, name, ext } = parse(finalPath);
  return join(dir, `.${name}.${pid}.tmp${ext}`);
}

/** Maps filesystem errnos to StorageError, naming the final path the API asked for. */
function storageError(err: unknown, finalPath: string): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && STORAGE_ERRNOS.has(code)) {
    return new StorageError(`cannot write ${finalPath} (${(err as Error).message})`);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Creates (or truncates) the temp file ourselves first so storage problems surface as errnos. */
async function probeWritable(tempPath: string, finalPath: string): Promise<void> {
  try {
    const handle = await open(tempPath, 'w');
    await handle.close();
  } catch (err) {
    throw storageError(err, finalPath);
  }
}

async function fsyncPath(path: string, flags: 'r' | 'r+'): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Runs ffmpeg reading rawvideo rgb24 on stdin; resolves when it exits 0. */
function runFfmpeg(
  job: EncodeJob,
  outputArgs: string[],
  frames: Iterable<Buffer>,
  target: string,
  finalPath: string,
): Promise<void> {
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${job.width}x${job.height}`,
    '-r',
    String(job.fps),
    '-i',
    'pipe:0',
    ...outputArgs,
    target,
  ];
  return new Promise<void>((resolve, reject) => {
    if (job.signal.aborted) return reject(new AbortedError('aborted before encoding'));
    const child = spawn(job.ffmpegPath, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    let aborted = false;
    let spawnError: Error | null = null;
    const onAbort = (): void => {
      aborted = true;
      child.kill('SIGKILL');
    };
    job.signal.addEventListener('abort', onAbort, { once: true });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', (err) => {
      spawnError = err;
    });
    // EPIPE when ffmpeg dies early; the exit code below carries the real reason.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      job.signal.removeEventListener('abort', onAbort);
      if (aborted) return reject(new AbortedError('aborted while encoding'));
      if (spawnError) return reject(new EncoderError(`cannot run ${job.ffmpegPath}: ${spawnError.message}`));
      if (code === 0) return resolve();
      const detail = stderr.trim().split('\n').slice(-3).join(' | ') || `exit ${code ?? signal}`;
      const storage = STORAGE_STDERR.exec(stderr);
      if (storage)
        return reject(new StorageError(`cannot write ${finalPath}: ${storage[0]} (ffmpeg: ${detail})`));
      reject(new EncoderError(`ffmpeg failed (${code ?? signal}): ${detail}`));
    });

    const closed = new Promise<void>((done) => child.once('close', () => done()));
    void (async () => {
      for (const frame of frames) {
        if (aborted || child.exitCode !== null || child.stdin.destroyed) return;
        if (!child.stdin.write(frame)) {
          let onDrain = (): void => undefined;
          await Promise.race([
            new Promise<void>((done) => child.stdin.once('drain', (onDrain = done))),
            closed,
          ]);
          child.stdin.off('drain', onDrain);
        }
      }
      child.stdin.end();
    })();
  });
}

function* frameRange(job: EncodeJob, from: number, to: number): Iterable<Buffer> {
  for (let i = from; i < to; i++) yield job.renderFrame(i);
}

/**
 * Encodes the MP4 and the JPEG thumbnail to temp files beside their final paths, fsyncs them,
 * then renames (thumbnail first, so a visible video always has its thumbnail). On any failure
 * both temps are removed and nothing appears at the final paths.
 */
export async function encodeVideoAndThumbnail(job: EncodeJob): Promise<void> {
  const videoTmp = tempPathFor(job.outPath);
  const thumbTmp = tempPathFor(job.thumbnailPath);
  let thumbnailPublished = false;
  try {
    await probeWritable(videoTmp, job.outPath);
    await probeWritable(thumbTmp, job.thumbnailPath);
    await runFfmpeg(
      job,
      [
        '-an',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-pix_fmt',
        'yuv420p',
        '-movflags',
        '+faststart',
        '-f',
        'mp4',
      ],
      frameRange(job, 0, job.numFrames),
      videoTmp,
      job.outPath,
    );
    await runFfmpeg(
      job,
      ['-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '3', '-f', 'image2', '-update', '1'],
      frameRange(job, job.thumbnailFrame, job.thumbnailFrame + 1),
      thumbTmp,
      job.thumbnailPath,
    );
    if (job.signal.aborted) throw new AbortedError('aborted after encoding');
    try {
      await fsyncPath(videoTmp, 'r+');
      await fsyncPath(thumbTmp, 'r+');
      await rename(thumbTmp, job.thumbnailPath);
      thumbnailPublished = true;
      await rename(videoTmp, job.outPath);
    } catch (err) {
      throw storageError(err, job.outPath);
    }
    // Persist the renames; the files are already complete, so a failure here is not a job failure.
    for (const dir of new Set([dirname(job.outPath), dirname(job.thumbnailPath)])) {
      await fsyncPath(dir, 'r').catch(() => undefined);
    }
  } catch (err) {
    await rm(videoTmp, { force: true }).catch(() => undefined);
    await rm(thumbTmp, { force: true }).catch(() => undefined);
    if (thumbnailPublished) await rm(job.thumbnailPath, { force: true }).catch(() => undefined);
    throw err;
  }
}
