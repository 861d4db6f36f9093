import { randomUUID } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

import type { BinaryResponse } from './binary-response.js';
import { toClientError } from './api-client.js';
import { APIConnectionError } from './errors.js';

/** Result of `videos.downloadTo()`. */
export interface DownloadResult {
  /** Absolute path of the written file. */
  path: string;
  /** Bytes written. */
  bytes: number;
  /** The response's `content-type`. */
  contentType: string | undefined;
  /** The server's `x-request-id`. */
  requestId: string | null;
}

/**
 * Writes a response body to `destination` atomically: into a temporary file in the same
 * directory, flushed to disk, then renamed over the destination. A reader never sees a partial
 * file, and a failed download leaves no trace.
 */
export async function writeAtomically(
  response: BinaryResponse,
  destination: string,
  signal?: AbortSignal,
): Promise<DownloadResult> {
  const target = resolve(destination);
  const temp = join(dirname(target), `.${basename(target)}.${randomUUID()}.part`);
  const file = await open(temp, 'wx', 0o644);
  let bytes = 0;
  try {
    try {
      for await (const chunk of response.body) {
        const data = chunk as Uint8Array;
        let offset = 0;
        while (offset < data.byteLength) {
          const { bytesWritten } = await file.write(data, offset, data.byteLength - offset);
          offset += bytesWritten;
        }
        bytes += data.byteLength;
      }
    } catch (error) {
      const mapped = toClientError(error, signal);
      if (mapped instanceof APIConnectionError) mapped.message = `Download interrupted: ${mapped.message}`;
      throw mapped;
    }
    const expected = response.contentLength;
    if (expected !== undefined && response.status === 200 && expected !== bytes) {
      throw new APIConnectionError(`Download truncated: got ${bytes} of ${expected} bytes.`);
    }
    await file.sync();
    await file.close();
    await rename(temp, target);
  } catch (error) {
    await file.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    response.body.destroy();
    throw error;
  }
  return { path: target, bytes, contentType: response.contentType, requestId: response.requestId };
}
