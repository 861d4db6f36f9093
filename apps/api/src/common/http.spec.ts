import { Readable } from 'node:stream';

import { ApiError } from './api-error';
import { mediaType, parseRange, preferredType, requestPath } from './http';
import { readMultipartFields } from './multipart';

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

describe('readMultipartFields', () => {
  const boundary = 'XyZ';
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const part = (name: string, value: string, filename?: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n\r\n${value}\r\n`;
  const body = (...parts: string[]) => Readable.from([Buffer.from(parts.join('') + `--${boundary}--\r\n`)]);

  it('returns the text fields', async () => {
    await expect(
      readMultipartFields(body(part('prompt', 'a cat'), part('seconds', '2')), headers, 1000),
    ).resolves.toEqual({ prompt: 'a cat', seconds: '2' });
  });

  it('refuses a file part by its field name', async () => {
    const err = await readMultipartFields(body(part('image', 'PNG...', 'cat.png')), headers, 1000).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).toBody().error).toMatchObject({ param: 'image', code: 'unknown_field' });
  });

  it('refuses a repeated field and a body over the limit', async () => {
    const repeated = await readMultipartFields(
      body(part('prompt', 'a'), part('prompt', 'b')),
      headers,
      1000,
    ).catch((e: unknown) => e as ApiError);
    expect((repeated as ApiError).param).toBe('prompt');
    const big = await readMultipartFields(body(part('prompt', 'x'.repeat(5000))), headers, 1000).catch(
      (e: unknown) => e as ApiError,
    );
    expect((big as ApiError).status).toBe(413);
  });
});
