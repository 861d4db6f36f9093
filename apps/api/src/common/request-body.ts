import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

import { ApiError } from './api-error';

/**
 * A refused body is read to its end (and dropped) before the refusal is answered, up to this many
 * bytes and this long: a client still uploading when the server answers and closes sees a reset
 * ("Connection error") instead of the 400/413. Past either bound the answer says
 * `Connection: close` and the connection ends after it.
 */
export const DRAIN_MIN_BYTES = 64 * 1024 * 1024;
export const DRAIN_TIMEOUT_MS = 60_000;

export function payloadTooLarge(limit: number, what = 'Request body'): ApiError {
  return new ApiError(
    413,
    'invalid_request_error',
    'payload_too_large',
    `${what} is larger than the limit of ${limit} bytes.`,
  );
}

/** An `input_reference` over T2V_MAX_IMAGE_BYTES (uploaded, or decoded from a data: URL). */
export function tooManyBytes(maxBytes: number): ApiError {
  return ApiError.badRequest(
    'input_reference',
    `input_reference is larger than this server's limit of ${maxBytes} bytes (T2V_MAX_IMAGE_BYTES).`,
    'image_too_large',
  );
}

/** The declared Content-Length, when there is one. */
export function contentLength(headers: IncomingHttpHeaders): number | null {
  const value = headers['content-length'];
  if (value === undefined || !/^\d+$/.test(value)) return null;
  return Number(value);
}

/**
 * Reads what is left of `body` and discards it, then settles with `err`. Resolves at once when the
 * body has already ended. `drainBytes` bounds the bytes read after the refusal.
 */
export function drainThenFail(body: Readable, err: ApiError, drainBytes: number): Promise<never> {
  return new Promise((_, reject) => {
    if (body.readableEnded || body.destroyed) return reject(err);
    let drained = 0;
    const finish = (close: boolean) => {
      clearTimeout(timer);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onEnd);
      body.off('close', onEnd);
      if (close) Object.assign(err.headers, { Connection: 'close' });
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > drainBytes) {
        body.pause();
        finish(true);
      }
    };
    const onEnd = () => finish(false);
    const timer = setTimeout(() => finish(true), DRAIN_TIMEOUT_MS);
    timer.unref();
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onEnd);
    body.once('close', onEnd);
    body.resume();
  });
}

/**
 * Reads a whole body as UTF-8 text of at most `limit` bytes. Over it: 413, answered once the rest
 * of the body has been read (bounded, see drainThenFail).
 */
export function readText(body: Readable, headers: IncomingHttpHeaders, limit: number): Promise<string> {
  const drainBytes = Math.max(DRAIN_MIN_BYTES, 2 * limit);
  const declared = contentLength(headers);
  if (declared !== null && declared > limit) return drainThenFail(body, payloadTooLarge(limit), drainBytes);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) {
        cleanup();
        chunks.length = 0;
        drainThenFail(body, payloadTooLarge(limit), drainBytes).catch(reject);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(ApiError.badRequest(null, `The request body could not be read: ${err.message}.`));
    };
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
  });
}
