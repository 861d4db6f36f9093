import { Readable } from 'node:stream';

import { ApiError } from './api-error';
import { mediaType, parseRange, preferredType, requestPath } from './http';
import { readMultipartBody } from './multipart';

describe('parseRange', () => {
  it.each([
    [undefined, null],
    ['bytes=0-99', { start: 0, end: 99 }],
    ['bytes=100-', { start: 100, end: 999 }],
    ['bytes=-100', { start: 900, end: 999 }],
    ['bytes=900-5000', { start: 900, end: 999 }],
    ['bytes=-5000', { start: 0, end: 999 }],
    ['bytes=1000-', 'unsatisfiable'],
    ['bytes=50-10', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=0-1,5-9', null],
    ['items=0-9', null],
  ])('%s of a 1000-byte file', (header, expected) => {
    expect(parseRange(header, 1000)).toEqual(expected);
  });
});

describe('preferredType', () => {
  const offers = ['text/plain', 'application/json'];
  it.each([
    [undefined, 'text/plain'],
    ['*/*', 'text/plain'],
    ['application/json', 'application/json'],
    ['application/json, text/plain', 'application/json'],
    ['text/plain;q=0.5, application/json', 'application/json'],
    ['application/*', 'application/json'],
    ['text/*;q=0.9, */*;q=0.1', 'text/plain'],
    ['image/png', null],
    ['application/json;q=0', null],
  ])('Accept %s', (accept, expected) => {
    expect(preferredType(accept, offers)).toBe(expected);
  });
});

describe('request helpers', () => {
  it('reads the path without the query and the media type without parameters', () => {
    expect(requestPath({ url: '/v1/videos?limit=2' })).toBe('/v1/videos');
    expect(requestPath({ url: '/v1/videos' })).toBe('/v1/videos');
    expect(mediaType({ headers: { 'content-type': 'Application/JSON; charset=utf-8' } })).toBe(
      'application/json',
    );
    expect(mediaType({ headers: {} })).toBeNull();
  });
});

describe('readMultipartBody', () => {
  const boundary = 'XyZ';
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const limits = { fieldBytes: 1000, fileBytes: 100, totalBytes: 4000 };
  const part = (name: string, value: string, filename?: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n\r\n${value}\r\n`;
  const body = (...parts: string[]) => Readable.from([Buffer.from(parts.join('') + `--${boundary}--\r\n`)]);

  it('returns the text fields, and the input_reference file as a Buffer', async () => {
    await expect(
      readMultipartBody(body(part('prompt', 'a cat'), part('seconds', '2')), headers, limits),
    ).resolves.toEqual({ prompt: 'a cat', seconds: '2' });
    const withFile = await readMultipartBody(
      body(part('prompt', 'a cat'), part('input_reference', 'PNG bytes', 'cat.png')),
      headers,
      limits,
    );
    expect(withFile['input_reference']).toEqual(Buffer.from('PNG bytes'));
  });

  it('refuses another file part by its field name, a second file, and a file over its limit', async () => {
    const other = await readMultipartBody(body(part('image', 'PNG...', 'cat.png')), headers, limits).catch(
      (e: unknown) => e,
    );
    expect(other).toBeInstanceOf(ApiError);
    expect((other as ApiError).toBody().error).toMatchObject({ param: 'image', code: 'unknown_field' });
    const two = await readMultipartBody(
      body(part('input_reference', 'a', 'a.png'), part('input_reference', 'b', 'b.png')),
      headers,
      limits,
    ).catch((e: unknown) => e as ApiError);
    expect((two as ApiError).param).toBe('input_reference');
    const big = await readMultipartBody(
      body(part('input_reference', 'x'.repeat(500), 'big.png')),
      headers,
      limits,
    ).catch((e: unknown) => e as ApiError);
    expect((big as ApiError).toBody().error).toMatchObject({
      param: 'input_reference',
      code: 'image_too_large',
    });
  });

  it('refuses a repeated field, fields over their limit and a body over the total (413)', async () => {
    const repeated = await readMultipartBody(
      body(part('prompt', 'a'), part('prompt', 'b')),
      headers,
      limits,
    ).catch((e: unknown) => e as ApiError);
    expect((repeated as ApiError).param).toBe('prompt');
    const big = await readMultipartBody(body(part('prompt', 'x'.repeat(5000))), headers, limits).catch(
      (e: unknown) => e as ApiError,
    );
    expect((big as ApiError).status).toBe(413);
    const declared = await readMultipartBody(
      body(part('prompt', 'a')),
      { ...headers, 'content-length': '999999' },
      limits,
    ).catch((e: unknown) => e as ApiError);
    expect((declared as ApiError).status).toBe(413);
  });
});
