import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

import busboy from 'busboy';

import { ApiError } from './api-error';

const MAX_FIELDS = 64;

/**
 * Reads a multipart/form-data body as its text fields (how the OpenAI SDK sends a create). A file
 * part is refused by name: no model here takes an input file yet. Fields are bounded in count and
 * in total size (`maxBytes`, the same limit as a JSON body).
 */
export function readMultipartFields(
  body: Readable,
  headers: IncomingHttpHeaders,
  maxBytes: number,
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: ApiError) => {
      if (settled) return;
      settled = true;
      // Keep reading (and dropping) the rest so the error can be answered on this connection.
      body.unpipe();
      body.resume();
      reject(err);
    };
    const tooLarge = () =>
      fail(new ApiError(413, 'invalid_request_error', 'payload_too_large', 'Request body is too large.'));
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers,
        limits: { fieldSize: maxBytes, fields: MAX_FIELDS, parts: MAX_FIELDS, fieldNameSize: 200 },
      });
    } catch (err) {
      return fail(ApiError.badRequest(null, `Invalid multipart body: ${(err as Error).message}.`));
    }
    const fields: Record<string, string> = Object.create(null) as Record<string, string>;
    let bytes = 0;
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) tooLarge();
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated || info.nameTruncated) return tooLarge();
      if (name in fields) return fail(ApiError.badRequest(name, `Field '${name}' is given more than once.`));
      fields[name] = value;
    });
    parser.on('file', (name, file) => {
      file.resume();
      fail(
        ApiError.badRequest(
          name,
          `File uploads (${name}) are not supported by this model yet.`,
          'unknown_field',
        ),
      );
    });
    parser.on('fieldsLimit', () => fail(ApiError.badRequest(null, `At most ${MAX_FIELDS} fields.`)));
    parser.on('partsLimit', () => fail(ApiError.badRequest(null, `At most ${MAX_FIELDS} parts.`)));
    parser.on('error', (err: Error) =>
      fail(ApiError.badRequest(null, `Invalid multipart body: ${err.message}.`)),
    );
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      resolve({ ...fields });
    });
    body.pipe(parser);
  });
}
