import { spawn } from 'node:child_process';

import { MAX_PREVIEW_BYTES } from '@t2v/contracts';

/** When previews are due: every `everySteps` steps (0: never), at least `minIntervalMs` apart. */
export interface PreviewPolicy {
  everySteps: number;
  minIntervalMs: number;
}

/** At most this many frames in a preview, evenly spaced in time; each tile's longer side in pixels. */
const MAX_TILES = 4;
const TILE_SIDE = 320;

/** The step's preview is due (never at the last step: the video itself follows). */
export function previewDue(
  policy: PreviewPolicy,
  step: number,
  total: number,
  lastAt: number | null,
  now: number,
): boolean {
  if (policy.everySteps <= 0 || step >= total || step % policy.everySteps !== 0) return false;
  return lastAt === null || now - lastAt >= policy.minIntervalMs;
}

/**
 * The synthetic engine's picture of "the video so far": the frames it will render, fading in from
 * seeded noise as the steps go by (`step / total` of the way), as a real model's estimate
 * sharpens. A grid of up to four frames, two columns, each at the video's aspect.
 */
export function previewGrid(
  renderFrame: (index: number) => Buffer,
  size: { width: number; height: number; frames: number },
  step: number,
  total: number,
  seed: number,
): { rgb: Buffer; width: number; height: number } {
  const scale = Math.min(1, TILE_SIDE / Math.max(size.width, size.height));
  // Even sides: the JPEG encoder subsamples colour in 2×2 blocks.
  const tw = Math.max(2, 2 * Math.round((size.width * scale) / 2));
  const th = Math.max(2, 2 * Math.round((size.height * scale) / 2));
  const count = Math.min(MAX_TILES, size.frames);
  const cols = count === 1 ? 1 : 2;
  const rows = Math.ceil(count / cols);
  const width = tw * cols;
  const height = th * rows;
  const rgb = Buffer.alloc(width * height * 3);
  const clean = step / total;
  // Grey noise in 4×4 blocks (a seeded hash of the block): it compresses, so a preview stays small.
  const noiseAt = (tile: number, x: number, y: number): number => {
    let h =
      (seed ^
        Math.imul(tile + 1, 0x9e3779b1) ^
        Math.imul(x >> 2, 0x85ebca6b) ^
        Math.imul(y >> 2, 0xc2b2ae35)) >>>
      0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h ^= h >>> 16;
    return h & 255;
  };
  for (let tile = 0; tile < count; tile++) {
    const index = count === 1 ? 0 : Math.round((tile * (size.frames - 1)) / (count - 1));
    const frame = renderFrame(index);
    const ox = (tile % cols) * tw;
    const oy = Math.floor(tile / cols) * th;
    for (let y = 0; y < th; y++) {
      const sy = Math.min(size.height - 1, Math.floor((y * size.height) / th));
      for (let x = 0; x < tw; x++) {
        const sx = Math.min(size.width - 1, Math.floor((x * size.width) / tw));
        const s = (sy * size.width + sx) * 3;
        const d = ((oy + y) * width + ox + x) * 3;
        const n = (1 - clean) * noiseAt(tile, x, y);
        for (let c = 0; c < 3; c++) rgb[d + c] = Math.round(clean * frame[s + c]! + n);
      }
    }
  }
  return { rgb, width, height };
}

/** Encodes packed rgb24 as one JPEG with ffmpeg (the encoder the engine already needs). */
export function encodeJpeg(ffmpegPath: string, rgb: Buffer, width: number, height: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const args = [
      '-v',
      'error',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${width}x${height}`,
      '-i',
      '-',
    ];
    args.push('-frames:v', '1', '-c:v', 'mjpeg', '-q:v', '8', '-f', 'image2pipe', '-');
    const child = spawn(ffmpegPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      const data = Buffer.concat(out);
      if (code !== 0 || data.length === 0)
        return reject(new Error(`ffmpeg preview: exit ${code}: ${err.trim()}`));
      if (data.length > MAX_PREVIEW_BYTES) return reject(new Error(`preview of ${data.length} bytes`));
      resolve(data);
    });
    child.stdin.end(rgb);
  });
}
