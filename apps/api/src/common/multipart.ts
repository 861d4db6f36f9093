import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

import busboy from 'busboy';

import { ApiError } from './api-error';
import { contentLength, DRAIN_MIN_BYTES, drainThenFail, payloadTooLarge, tooManyBytes } from './request-body';

const MAX_FIELDS = 64;

/** The one file part a create takes: the image of an image-to-video job. */
export const FILE_FIELD = 'input_reference';

export interface MultipartLimits {
  /** Total size of the text fields (the same limit as a JSON body). */
  fieldBytes: number;
  /** Size of the `input_reference` file part. */
  fileBytes: number;
  /** Size of the whole body, part headers and boundaries included: over it is a 413. */
  totalBytes: number;
}

/**
 * Reads a multipart/form-data body (how the OpenAI SDKs send a create) into its text fields and
 * at most one file part, `input_reference`, kept as a Buffer under that name. Any other file part is
 * refused by name. Everything is bounded: field count and size, the file (400 naming
 * `input_reference`), the whole body (413). A refused body is read to its end before the refusal
 * is answered, so a client still uploading receives it (see drainThenFail).
 */
export function readMultipartBody(
  body: Readable,
  headers: IncomingHttpHeaders,
  limits: MultipartLimits,
): Promise<Record<string, string | Buffer>> {
  const drainBytes = Math.max(DRAIN_MIN_BYTES, 2 * limits.totalBytes);
  const declared = contentLength(headers);
  if (declared !== null && declared > limits.totalBytes) {
    return drainThenFail(body, payloadTooLarge(limits.totalBytes), drainBytes);
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    let parser: busboy.Busboy | null = null;
    const fail = (err: ApiError) => {
      if (settled) return;
      settled = true;
      body.off('data', count);
      if (parser) {
        body.unpipe(parser);
        parser.removeAllListeners();
        parser.on('error', () => undefined);
      }
      drainThenFail(body, err, drainBytes).catch(reject);
    };
    let bytes = 0;
    const count = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limits.totalBytes) fail(payloadTooLarge(limits.totalBytes));
    };
    try {
      parser = busboy({
        headers,
        limits: {
          fieldSize: limits.fieldBytes,
          fields: MAX_FIELDS,
          parts: MAX_FIELDS,
          fieldNameSize: 200,
          files: 1,
          fileSize: limits.fileBytes,
        },
      });
    } catch (err) {
      return fail(ApiError.badRequest(null, `Invalid multipart body: ${(err as Error).message}.`));
    }
    const fields: Record<string, string | Buffer> = Object.create(null) as Record<string, string | Buffer>;
    let fieldBytes = 0;
    let pendingFile: Promise<void> = Promise.resolve();
    body.on('data', count);
    parser.on('field', (name, value, info) => {
      fieldBytes += value.length;
      if (info.valueTruncated || info.nameTruncated || fieldBytes > limits.fieldBytes) {
        return fail(payloadTooLarge(limits.fieldBytes, 'The form fields'));
      }
      if (name in fields) return fail(ApiError.badRequest(name, `Field '${name}' is given more than once.`));
      fields[name] = value;
    });
    parser.on('file', (name, file) => {
      if (name !== FILE_FIELD) {
        file.resume();
        return fail(
          ApiError.badRequest(
            name,
            `Unexpected file part '${name}'; the only file a create takes is '${FILE_FIELD}' (an image).`,
            'unknown_field',
          ),
        );
      }
      if (name in fields) {
        file.resume();
        return fail(ApiError.badRequest(name, `Field '${name}' is given more than once.`));
      }
      const chunks: Buffer[] = [];
      pendingFile = new Promise((done) => {
        file.on('data', (chunk: Buffer) => chunks.push(chunk));
        file.on('limit', () => {
          chunks.length = 0;
          fail(tooManyBytes(limits.fileBytes));
        });
        file.on('close', () => {
          if (!settled) fields[name] = Buffer.concat(chunks);
          done();
        });
      });
    });
    parser.on('filesLimit', () =>
      fail(ApiError.badRequest(FILE_FIELD, `At most one '${FILE_FIELD}' file is accepted.`)),
    );
    parser.on('fieldsLimit', () => fail(ApiError.badRequest(null, `At most ${MAX_FIELDS} fields.`)));
    parser.on('partsLimit', () => fail(ApiError.badRequest(null, `At most ${MAX_FIELDS} parts.`)));
    parser.on('error', (err: Error) =>
      fail(ApiError.badRequest(null, `Invalid multipart body: ${err.message}.`)),
    );
    parser.on('close', () => {
      void pendingFile.then(() => {
        if (settled) return;
        settled = true;
        body.off('data', count);
        resolve({ ...fields });
      });
    });
    body.pipe(parser);
  });
}
