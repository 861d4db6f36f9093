import { createHash } from 'node:crypto';

import sharp from 'sharp';

import { ApiError } from '../common/api-error';
import { tooManyBytes } from '../common/request-body';
import type { FittedImage } from '../jobs/job.types';

/** How an image whose aspect ratio differs from the video's is made to fit it (ADR 0017). */
export const INPUT_FITS = ['crop', 'pad', 'stretch'] as const;
export type InputFit = (typeof INPUT_FITS)[number];

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface ImageLimits {
  /** Largest image as uploaded, in bytes. */
  maxBytes: number;
  /** Largest image by its header's width × height; refused before any pixel is decoded. */
  maxPixels: number;
}

/** What the header of an accepted image says (orientation applied: the size as it is shown). */
export interface ImageProbe {
  format: ImageFormat;
  width: number;
  height: number;
  /** Frames of an animated image (1 for a still); only the first is used. */
  frames: number;
}

const PARAM = 'input_reference';

const invalid = (message: string) => ApiError.badRequest(PARAM, message, 'invalid_image');

/** The format a file's first bytes announce; null for anything else (GIF, SVG, TIFF, text...). */
export function sniffFormat(bytes: Buffer): ImageFormat | null {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a)
    return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (
    bytes.length >= 12 &&
    bytes.toString('latin1', 0, 4) === 'RIFF' &&
    bytes.toString('latin1', 8, 12) === 'WEBP'
  )
    return 'webp';
  return null;
}

const DATA_URL = /^data:([^,;]*)((?:;[^,;]*)*),/i;

/**
 * The bytes of a `data:` URL given as `input_reference` (base64 only). Remote URLs are refused:
 * fetching them is off (ADR 0017). The size is checked on the encoded length before decoding.
 */
export function decodeDataUrl(value: string, maxBytes: number): Buffer {
  const head = DATA_URL.exec(value.slice(0, 256));
  if (!head) {
    if (/^https?:\/\//i.test(value)) {
      throw ApiError.badRequest(
        PARAM,
        'input_reference: fetching remote URLs is off on this server; upload the file (multipart/form-data) ' +
          'or send it inline as a data:image/png;base64,... URL.',
      );
    }
    throw ApiError.badRequest(
      PARAM,
      'input_reference must be an image file (multipart/form-data) or a data:image/...;base64,... URL.',
    );
  }
  if (!head[2]!.toLowerCase().split(';').includes('base64')) {
    throw ApiError.badRequest(PARAM, 'input_reference: only base64 data: URLs are accepted (";base64,").');
  }
  const payload = value.slice(head[0].length).replace(/\s+/g, '');
  if (Math.floor((payload.length * 3) / 4) - 2 > maxBytes) throw tooManyBytes(maxBytes);
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(payload)) {
    throw invalid('input_reference: the data: URL is not valid base64.');
  }
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.length > maxBytes) throw tooManyBytes(maxBytes);
  return bytes;
}

/**
 * Checks an uploaded image from its bytes and header alone: a PNG, JPEG or WebP by its signature
 * (the declared type is ignored), a readable header, and at most `maxPixels` pixels, so a
 * decompression bomb is refused before a pixel of it is decoded.
 */
export async function probeImage(bytes: Buffer, limits: ImageLimits): Promise<ImageProbe> {
  if (bytes.length === 0) throw invalid('input_reference is empty.');
  if (bytes.length > limits.maxBytes) throw tooManyBytes(limits.maxBytes);
  const format = sniffFormat(bytes);
  if (!format) {
    throw ApiError.badRequest(
      PARAM,
      'input_reference is not a PNG, JPEG or WebP image (judged by its content, not its name or type).',
      'unsupported_image_format',
    );
  }
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw invalid(`input_reference could not be read as ${format.toUpperCase()}: ${reason(err)}.`);
  }
  if (meta.format !== format || !meta.width || !meta.height) {
    throw invalid(`input_reference could not be read as ${format.toUpperCase()}.`);
  }
  const frameHeight = meta.pageHeight && (meta.pages ?? 1) > 1 ? meta.pageHeight : meta.height;
  if (meta.width * frameHeight > limits.maxPixels) {
    throw ApiError.badRequest(
      PARAM,
      `input_reference is ${meta.width}x${frameHeight} pixels; this server takes at most ${limits.maxPixels} ` +
        'pixels (T2V_MAX_IMAGE_PIXELS).',
      'image_too_large',
    );
  }
  // EXIF orientations 5-8 turn the image a quarter: the shown size is the stored one swapped.
  const turned = (meta.orientation ?? 1) >= 5;
  return {
    format,
    width: turned ? frameHeight : meta.width,
    height: turned ? meta.width : frameHeight,
    frames: meta.pages ?? 1,
  };
}

/**
 * Decodes the (first frame of the) image, applies its EXIF orientation, removes any alpha (onto
 * black) and fits it to exactly `width`×`height`: `crop` scales to cover and cuts the overflow
 * evenly from both sides, `pad` scales to fit inside and fills the rest with black, `stretch`
 * scales each axis on its own. The result is an 8-bit sRGB PNG without metadata.
 */
export async function fitImage(
  bytes: Buffer,
  width: number,
  height: number,
  fit: InputFit,
  limits: ImageLimits,
): Promise<FittedImage> {
  let png: Buffer;
  try {
    png = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated', pages: 1 })
      .rotate()
      .flatten({ background: '#000000' })
      .resize(width, height, {
        fit: fit === 'crop' ? 'cover' : fit === 'pad' ? 'contain' : 'fill',
        position: 'centre',
        background: '#000000',
      })
      .toColourspace('srgb')
      .png({ compressionLevel: 6 })
      .toBuffer();
  } catch (err) {
    throw invalid(`input_reference could not be decoded: ${reason(err)}.`);
  }
  return { png, sha256: createHash('sha256').update(png).digest('hex'), width, height };
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.replace(/\.$/, '').slice(0, 200);
}

/**
 * The preset size for an image when the request names none: the preset whose aspect ratio is
 * closest to the image's (in log ratio, so 2:1 and 1:2 are equally far from 1:1). Presets within
 * 5% of the closest count as equally close; of those, the one nearest the default size's pixel
 * count wins, so a 3:2 photo keeps the deployment's default resolution rather than dropping to a
 * smaller preset whose ratio is a hair closer.
 */
export function presetForImage(
  sizes: readonly string[],
  defaultSize: string,
  imageWidth: number,
  imageHeight: number,
): string {
  const area = (s: string) => {
    const [w, h] = s.split('x').map(Number) as [number, number];
    return w * h;
  };
  const target = Math.log(imageWidth / imageHeight);
  const scored = sizes.map((size) => {
    const [w, h] = size.split('x').map(Number) as [number, number];
    return { size, distance: Math.abs(Math.log(w / h) - target) };
  });
  const best = Math.min(...scored.map((s) => s.distance));
  const near = scored.filter((s) => s.distance - best <= Math.log(1.05));
  const wanted = area(defaultSize);
  near.sort(
    (a, b) =>
      Math.abs(Math.log(area(a.size) / wanted)) - Math.abs(Math.log(area(b.size) / wanted)) ||
      a.distance - b.distance,
  );
  return near[0]!.size;
}

/** Runs at most `limit` image jobs at once: each decode holds a full-size bitmap in memory. */
export class ImageGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
