/**
 * The two Node.js globals the SDK's core touches at run time, for a browser: `process` (the
 * client reads `process.versions.node` for its user agent) and `Buffer` (the core joins response
 * chunks with `Buffer.concat(...).toString('utf8')`). Minimal stand-ins, installed only when
 * missing; importing this module first is what lets `@t2v/sdk` run in a page.
 */

class ByteString extends Uint8Array {
  override toString(): string {
    return new TextDecoder('utf-8').decode(this);
  }
}

const encoder = new TextEncoder();

/** The `Buffer` stand-in (exported for its tests). */
export const BufferShim = {
  from(data: string | ArrayLike<number> | ArrayBufferLike): ByteString {
    if (typeof data === 'string') {
      const bytes = encoder.encode(data);
      const out = new ByteString(bytes.byteLength);
      out.set(bytes);
      return out;
    }
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data as ArrayLike<number>);
    const out = new ByteString(bytes.byteLength);
    out.set(bytes);
    return out;
  },
  concat(list: readonly Uint8Array[]): ByteString {
    const out = new ByteString(list.reduce((n, b) => n + b.byteLength, 0));
    let offset = 0;
    for (const b of list) {
      out.set(b, offset);
      offset += b.byteLength;
    }
    return out;
  },
};

const scope = globalThis as Record<string, unknown>;
scope['process'] ??= { env: {}, versions: {} };
scope['Buffer'] ??= BufferShim;
