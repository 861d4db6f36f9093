import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { T2VError } from './errors.js';

/**
 * An image to send as a file part: a local path (Node.js), bytes, a `Blob`/`File` (browsers and
 * Node.js 20), a readable stream or any async iterable of chunks, or `{ data, filename }` to name
 * the part. A string that starts with `data:` is not a file: it is sent as is, in a JSON body.
 */
export type Uploadable =
  string | Uint8Array | ArrayBuffer | Blob | AsyncIterable<Uint8Array | string> | NamedUpload;

/** Bytes (or anything {@link Uploadable}) with the file name the part should carry. */
export interface NamedUpload {
  data: Exclude<Uploadable, NamedUpload | string> | string;
  /** File name sent with the part; the server ignores it except in logs. */
  filename?: string;
}

/** A file part ready to be written into a multipart body. */
export interface FilePart {
  bytes: Uint8Array;
  filename: string;
  /** Sniffed from the bytes (the server does the same and ignores what the client declares). */
  contentType: string;
}

/** Whether `value` is a `data:` URL string, which travels inside a JSON body. */
export function isDataURL(value: unknown): value is string {
  return typeof value === 'string' && value.slice(0, 5).toLowerCase() === 'data:';
}

function isNamedUpload(value: unknown): value is NamedUpload {
  return (
    typeof value === 'object' &&
    value !== null &&
    'data' in value &&
    !(value instanceof Uint8Array) &&
    !(typeof Blob !== 'undefined' && value instanceof Blob)
  );
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array | string> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** The image's media type from its first bytes: PNG, JPEG or WebP; anything else is octet-stream. */
export function sniffImageType(bytes: Uint8Array): string {
  const starts = (sig: number[], at = 0) => sig.every((b, i) => bytes[at + i] === b);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (starts([0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp';
  return 'application/octet-stream';
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'application/octet-stream': 'bin',
};

/** The parts, one after the other, in one array. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

async function collect(chunks: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks)
    parts.push(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk);
  return concat(parts);
}

/**
 * Reads an {@link Uploadable} into memory once, so that every retry of the call sends the same
 * bytes. Images are bounded by the server (10 MB by default), so buffering is cheap.
 */
export async function toFilePart(value: Uploadable, field: string): Promise<FilePart> {
  let filename: string | undefined;
  let source: Uploadable = value;
  if (isNamedUpload(value)) {
    filename = value.filename;
    source = value.data;
  }
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    if (isDataURL(source as unknown))
      throw new T2VError(`${field}: a data: URL is sent as JSON, not as a file part`);
    try {
      bytes = new Uint8Array(await readFile(source));
    } catch (error) {
      throw new T2VError(`${field}: cannot read ${source}: ${(error as Error).message}`, { cause: error });
    }
    filename ??= source.split(/[\\/]/).pop();
  } else if (source instanceof Uint8Array) {
    bytes = source;
  } else if (source instanceof ArrayBuffer) {
    bytes = new Uint8Array(source);
  } else if (typeof Blob !== 'undefined' && source instanceof Blob) {
    bytes = new Uint8Array(await source.arrayBuffer());
    const name = (source as Blob & { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') filename ??= name;
  } else if (isAsyncIterable(source)) {
    bytes = await collect(source);
    const path = (source as { path?: unknown }).path; // fs.ReadStream
    if (typeof path === 'string') filename ??= path.split(/[\\/]/).pop();
  } else {
    throw new T2VError(`${field}: expected a path, bytes, a Blob or a stream`);
  }
  const contentType = sniffImageType(bytes);
  return { bytes, filename: filename || `${field}.${EXTENSIONS[contentType]}`, contentType };
}

/** A `multipart/form-data` body and its `content-type` header. */
export interface MultipartBody {
  body: Uint8Array;
  contentType: string;
}

const quote = (s: string) => s.replace(/["\r\n\\]/g, (c) => encodeURIComponent(c));

/**
 * Encodes a create's fields and one file part as `multipart/form-data`. Strings, numbers and
 * booleans become text parts; objects and arrays (`metadata`, `lora`) are JSON text, which the
 * server parses back; `undefined` and `null` are left out, as a JSON body would mean by omitting
 * them.
 */
export function encodeMultipart(
  fields: Record<string, unknown>,
  files: Record<string, FilePart>,
): MultipartBody {
  const boundary = `t2v-${randomUUID()}`;
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const text = (s: string) => chunks.push(encoder.encode(s));
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const body = typeof value === 'object' ? JSON.stringify(value) : String(value);
    text(`--${boundary}\r\ncontent-disposition: form-data; name="${quote(name)}"\r\n\r\n${body}\r\n`);
  }
  for (const [name, file] of Object.entries(files)) {
    text(
      `--${boundary}\r\ncontent-disposition: form-data; name="${quote(name)}"; filename="${quote(file.filename)}"\r\n` +
        `content-type: ${file.contentType}\r\n\r\n`,
    );
    chunks.push(file.bytes);
    text('\r\n');
  }
  text(`--${boundary}--\r\n`);
  return { body: concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}
