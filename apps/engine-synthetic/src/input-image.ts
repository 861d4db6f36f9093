import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import type { ImageInput } from '@t2v/contracts';

/** The input image is missing, altered, or not the size the API promised. */
export class InputImageError extends Error {}

/**
 * Reads the API's fitted PNG as packed rgb24 (decoded by the same ffmpeg that encodes the video).
 * Checks what the API promised: the file's SHA-256 and its exact width×height.
 */
export async function readInputImage(ffmpegPath: string, image: ImageInput): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(image.path);
  } catch (err) {
    throw new InputImageError(`cannot read the input image ${image.path}: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== image.sha256) {
    throw new InputImageError(`the input image ${image.path} has SHA-256 ${sha256}, not ${image.sha256}`);
  }
  const rgb = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(
      ffmpegPath,
      ['-v', 'error', '-i', 'pipe:0', '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out))
        : reject(new InputImageError(`ffmpeg could not decode the input image: ${Buffer.concat(err)}`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(bytes);
  });
  if (rgb.length !== image.width * image.height * 3) {
    throw new InputImageError(
      `the input image is not ${image.width}x${image.height} (${rgb.length} bytes of rgb24)`,
    );
  }
  return rgb;
}

/**
 * Frame `index` of `count` starting from the image: frame 0 is the image itself, then the image
 * fades linearly into the test pattern, which the last frame shows alone.
 */
export function blendFromImage(image: Buffer, pattern: Buffer, index: number, count: number): Buffer {
  if (index === 0) return Buffer.from(image);
  const t = count <= 1 ? 1 : index / (count - 1);
  const a = Math.round((1 - t) * 256);
  const out = Buffer.allocUnsafe(pattern.length);
  for (let i = 0; i < pattern.length; i++) out[i] = (image[i]! * a + pattern[i]! * (256 - a)) >> 8;
  return out;
}
