import type { Readable } from 'node:stream';

import type { TransportResponse } from './transport.js';

/**
 * A binary answer (video or thumbnail bytes) whose body has not been read yet. Read it once:
 * pipe `body`, iterate the object with `for await`, or call `buffer()`.
 */
export class BinaryResponse implements AsyncIterable<Uint8Array> {
  /** HTTP status: 200, or 206 for a `Range` request. */
  readonly status: number;
  /** Lower-cased response headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as a Node.js readable stream. */
  readonly body: Readable;

  /** @internal built by `videos.content()`. */
  constructor(response: TransportResponse) {
    this.status = response.status;
    this.headers = response.headers;
    this.body = response.body;
  }

  /** `content-type`, e.g. `video/mp4` or `image/jpeg`. */
  get contentType(): string | undefined {
    return this.headers['content-type'];
  }

  /** `content-length` in bytes, when the server sent it. */
  get contentLength(): number | undefined {
    const value = this.headers['content-length'];
    return value === undefined || value === '' || Number.isNaN(Number(value)) ? undefined : Number(value);
  }

  /** The server's `x-request-id`. */
  get requestId(): string | null {
    return this.headers['x-request-id'] ?? null;
  }

  /** Reads the whole body into memory. */
  async buffer(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.body) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  /** Iterates the body's chunks. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.body[Symbol.asyncIterator]();
  }
}
