import type { Readable } from 'node:stream';
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';

import type { FastifyReply, FastifyRequest } from 'fastify';

import { ApiError } from './api-error';

/** The API's HTTP types: Fastify's request and reply (ADR 0024). */
export type HttpRequest = FastifyRequest;
export type HttpReply = FastifyReply;

const REQUEST_ID = Symbol('t2v.requestId');

/** Remembers the request id on the raw request, where Fastify handlers and middleware both see it. */
export function setRequestId(raw: object, id: string): void {
  (raw as { [REQUEST_ID]?: string })[REQUEST_ID] = id;
}

/** The id given to a request (its valid `x-request-id`, or a new UUID). */
export function requestIdOf(req: { raw?: object } | object): string | undefined {
  const raw = ('raw' in req && req.raw ? req.raw : req) as { [REQUEST_ID]?: string };
  return raw[REQUEST_ID];
}

/** The path of a request, without its query string. */
export function requestPath(req: { url: string }): string {
  const q = req.url.indexOf('?');
  return q === -1 ? req.url : req.url.slice(0, q);
}

/** Aborts when the client goes away before the response is written. */
export function abortOnClose(reply: HttpReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return ac.signal;
}

/** A request header that is given once, as a string. */
export function header(
  req: { headers: Record<string, string | string[] | undefined> },
  name: string,
): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** The media type of a request body (`application/json`), lower-cased, without parameters. */
export function mediaType(req: { headers: Record<string, string | string[] | undefined> }): string | null {
  const value = req.headers['content-type'];
  if (typeof value !== 'string' || value === '') return null;
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/**
 * Which of `offers` the Accept header prefers: by q-value, then by how specific the matching range
 * is, then by the range's place in the header, then by the order of `offers`. The first offer when
 * the header is absent; null when none is acceptable.
 */
export function preferredType(accept: string | undefined, offers: readonly string[]): string | null {
  if (!accept || accept.trim() === '') return offers[0] ?? null;
  const ranges = accept.split(',').map((part, order) => {
    const [range = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const quality = q ? Number(q.slice(2)) : 1;
    return { range: range.trim(), q: Number.isFinite(quality) ? quality : 0, order };
  });
  const scored = offers.map((offer, index) => {
    const type = offer.split('/')[0];
    let match = { q: 0, specificity: -1, order: Infinity };
    for (const { range, q, order } of ranges) {
      const specificity = range === offer ? 2 : range === `${type}/*` ? 1 : range === '*/*' ? 0 : -1;
      if (specificity > match.specificity) match = { q, specificity, order };
    }
    return { offer, index, ...match };
  });
  const acceptable = scored.filter((s) => s.specificity >= 0 && s.q > 0);
  acceptable.sort(
    (a, b) => b.q - a.q || b.specificity - a.specificity || a.order - b.order || a.index - b.index,
  );
  return acceptable[0]?.offer ?? null;
}

/** A single byte range of a file of `size` bytes, or 'unsatisfiable'; null means the whole file. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: serve the whole file, which RFC 9110 allows.
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/**
 * Streams a file, honouring a single `Range` (206) and answering 416 for an unsatisfiable one. The
 * file is opened before any header is sent, so a missing file is a clean 404, never a broken 200.
 */
export async function sendFile(
  req: HttpRequest,
  reply: HttpReply,
  file: string,
  headers: Record<string, string>,
  missing: () => Error,
): Promise<void> {
  let stats: Stats;
  try {
    stats = await stat(file);
    if (!stats.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing();
    throw err;
  }
  await sendRange(req, reply, { size: stats.size, modified: stats.mtime }, headers, async (start, end) =>
    createReadStream(file, { start, end }),
  );
}

/**
 * Sends `size` bytes that `open(start, end)` streams (inclusive), honouring a single `Range` (206)
 * and answering 416 for an unsatisfiable one: a local file or an object in a bucket.
 */
export async function sendRange(
  req: HttpRequest,
  reply: HttpReply,
  { size, modified }: { size: number; modified?: Date | undefined },
  headers: Record<string, string>,
  open: (start: number, end: number) => Promise<Readable>,
): Promise<void> {
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    throw new ApiError(416, 'invalid_request_error', 'invalid_value', 'Range not satisfiable.', 'Range', {
      'Content-Range': `bytes */${size}`,
    });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  reply.headers({
    ...headers,
    'accept-ranges': 'bytes',
    ...(modified ? { 'last-modified': modified.toUTCString() } : {}),
    'content-length': String(size === 0 ? 0 : end - start + 1),
  });
  if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
  if (req.method === 'HEAD' || size === 0) return void (await reply.send());
  await reply.send(await open(start, end));
}
