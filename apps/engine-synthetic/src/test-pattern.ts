import { createHash } from 'node:crypto';

/**
 * A deterministic moving test pattern: colour bands sliding sideways over a drifting vertical
 * gradient, plus a bouncing square. The palette comes from the prompt's hash, the motion from the
 * seed, so the same prompt and seed always give byte-identical frames and a new seed visibly
 * changes the clip. LoRA adapters (names and scales) are folded into the hash with the prompt:
 * the synthetic engine has no weights to adapt, but a job with adapters gives a different,
 * equally deterministic clip, so tests can tell them apart.
 */
export interface PatternSpec {
  prompt: string;
  seed: number;
  width: number;
  height: number;
  loras?: ReadonlyArray<{ name: string; scale: number }>;
}

const PALETTE_SIZE = 6;

/** mulberry32: tiny, well-distributed, and identical on every platform. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bounces 0..span back and forth. */
function triangle(pos: number, span: number): number {
  if (span <= 0) return 0;
  const period = 2 * span;
  const p = ((pos % period) + period) % period;
  return Math.floor(p <= span ? p : period - p);
}

export class TestPattern {
  readonly frameBytes: number;
  private readonly palette: Uint8Array;
  private readonly squareColour: Uint8Array;
  private readonly bandWidth: number;
  private readonly bandPhase: number;
  private readonly bandSpeed: number;
  private readonly gradientSpeed: number;
  private readonly square: { size: number; x0: number; y0: number; vx: number; vy: number };

  constructor(private readonly spec: PatternSpec) {
    const { width, height, seed } = spec;
    this.frameBytes = width * height * 3;
    const hash = createHash('sha256').update(spec.prompt, 'utf8');
    // No adapters: the same digest as before adapters existed.
    for (const { name, scale } of spec.loras ?? []) hash.update(`\u0000lora:${name}=${scale}`, 'utf8');
    const digest = hash.digest();
    this.palette = Uint8Array.from(digest.subarray(0, PALETTE_SIZE * 3));
    this.squareColour = Uint8Array.from(digest.subarray(18, 21), (v) => 255 - v);

    // The seed is folded into 32 bits with the prompt hash so seeds above 2^32 still differ.
    const rand = prng((seed % 4294967296) ^ Math.floor(seed / 4294967296) ^ digest.readUInt32LE(24));
    this.bandWidth = Math.max(4, Math.round(width / 10));
    this.bandPhase = Math.floor(rand() * this.bandWidth * PALETTE_SIZE);
    this.bandSpeed = 1 + Math.floor(rand() * Math.max(2, width / 40));
    this.gradientSpeed = 1 + Math.floor(rand() * Math.max(2, height / 30));
    const size = Math.max(2, Math.floor(Math.min(width, height) / 5));
    this.square = {
      size,
      x0: Math.floor(rand() * Math.max(1, width - size)),
      y0: Math.floor(rand() * Math.max(1, height - size)),
      vx: 1 + Math.floor(rand() * Math.max(2, width / 25)),
      vy: 1 + Math.floor(rand() * Math.max(2, height / 25)),
    };
  }

  /** Renders frame `index` as packed rgb24, row-major, width*height*3 bytes. */
  renderFrame(index: number): Buffer {
    const { width, height } = this.spec;
    const frame = Buffer.allocUnsafe(this.frameBytes);
    const rowBytes = width * 3;

    // One row of band colours per frame; every row is that row scaled by a moving brightness.
    const line = new Uint8Array(rowBytes);
    const period = this.bandWidth * PALETTE_SIZE;
    const shift = this.bandPhase + index * this.bandSpeed;
    for (let x = 0; x < width; x++) {
      const band = Math.floor(((x + shift) % period) / this.bandWidth);
      line[x * 3] = this.palette[band * 3]!;
      line[x * 3 + 1] = this.palette[band * 3 + 1]!;
      line[x * 3 + 2] = this.palette[band * 3 + 2]!;
    }
    // At most 192 brightness levels, so tall frames repeat rows: compute each level once, copy after.
    const scaled = new Uint8Array(256);
    const rowOfLevel = new Int32Array(256).fill(-1);
    for (let y = 0; y < height; y++) {
      const level = 64 + Math.floor((192 * ((y + index * this.gradientSpeed) % height)) / height);
      let o = y * rowBytes;
      const seen = rowOfLevel[level]!;
      if (seen >= 0) {
        frame.copy(frame, o, seen * rowBytes, (seen + 1) * rowBytes);
        continue;
      }
      rowOfLevel[level] = y;
      for (let v = 0; v < 256; v++) scaled[v] = (v * level) >> 8;
      for (let i = 0; i < rowBytes; i++) frame[o++] = scaled[line[i]!]!;
    }

    const sq = this.square;
    const sx = triangle(sq.x0 + index * sq.vx, width - sq.size);
    const sy = triangle(sq.y0 + index * sq.vy, height - sq.size);
    const [r, g, b] = this.squareColour as unknown as [number, number, number];
    for (let y = sy; y < Math.min(height, sy + sq.size); y++) {
      let o = (y * width + sx) * 3;
      for (let x = sx; x < Math.min(width, sx + sq.size); x++) {
        frame[o++] = r;
        frame[o++] = g;
        frame[o++] = b;
      }
    }
    return frame;
  }
}
