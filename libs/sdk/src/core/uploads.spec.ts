import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { T2V } from '../client.js';
import { fakeTransport, videoFixture } from '../testing/fake-transport.js';
import { T2VError } from './errors.js';
import { encodeMultipart, sniffImageType, toFilePart } from './uploads.js';

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 1, 2, 3]);
const JPEG = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46]);
const WEBP = Uint8Array.from([0x52, 0x49, 0x46, 0x46, 9, 9, 9, 9, 0x57, 0x45, 0x42, 0x50, 0x56]);

/** Parses a multipart body with the platform's own parser (undici), not ours. */
async function parse(body: Uint8Array | string | undefined, contentType: string): Promise<FormData> {
  return new Response(body as Uint8Array, { headers: { 'content-type': contentType } }).formData();
}

describe('sniffImageType', () => {
  it('tells PNG, JPEG and WebP from their first bytes, and nothing else', () => {
    expect(sniffImageType(PNG)).toBe('image/png');
    expect(sniffImageType(JPEG)).toBe('image/jpeg');
    expect(sniffImageType(WEBP)).toBe('image/webp');
    expect(sniffImageType(new TextEncoder().encode('GIF89a'))).toBe('application/octet-stream');
    expect(sniffImageType(new Uint8Array())).toBe('application/octet-stream');
  });
});

describe('toFilePart', () => {
  const dir = mkdtempSync(join(tmpdir(), 't2v-upload-'));
  const file = join(dir, 'cat.png');
  writeFileSync(file, PNG);

  it.each<[string, () => Parameters<typeof toFilePart>[0], string]>([
    ['a path', () => file, 'cat.png'],
    ['a Buffer', () => Buffer.from(PNG), 'input_reference.png'],
    ['an ArrayBuffer', () => PNG.slice().buffer, 'input_reference.png'],
    ['a Blob', () => new Blob([PNG]), 'input_reference.png'],
    ['a File', () => new File([PNG], 'photo.png'), 'photo.png'],
    ['a file stream', () => createReadStream(file), 'cat.png'],
    [
      'a stream of chunks',
      () => Readable.from([Buffer.from(PNG.subarray(0, 5)), Buffer.from(PNG.subarray(5))]),
      'input_reference.png',
    ],
    ['named bytes', () => ({ data: PNG, filename: 'named.png' }), 'named.png'],
  ])('reads %s into the same bytes', async (_what, make, filename) => {
    const part = await toFilePart(make(), 'input_reference');
    expect(Buffer.from(part.bytes).equals(Buffer.from(PNG))).toBe(true);
    expect(part).toMatchObject({ filename, contentType: 'image/png' });
  });

  it('says which file it could not read', async () => {
    await expect(toFilePart(join(dir, 'missing.png'), 'input_reference')).rejects.toThrow(
      /input_reference: cannot read .*missing\.png/,
    );
    await expect(toFilePart(42 as never, 'input_reference')).rejects.toBeInstanceOf(T2VError);
  });
});

describe('encodeMultipart', () => {
  it('writes text parts, JSON for objects, and the file part, readable by a standard parser', async () => {
    const { body, contentType } = encodeMultipart(
      {
        prompt: 'a "quoted"\r\nprompt',
        seed: 7,
        strict: false,
        lora: [{ name: 'x', scale: 0.5 }],
        metadata: { a: 'b' },
        negative_prompt: null,
        size: undefined,
      },
      { input_reference: { bytes: PNG, filename: 'cat.png', contentType: 'image/png' } },
    );
    const form = await parse(body, contentType);
    expect(form.get('prompt')).toBe('a "quoted"\r\nprompt');
    expect(form.get('seed')).toBe('7');
    expect(form.get('strict')).toBe('false');
    expect(JSON.parse(String(form.get('lora')))).toEqual([{ name: 'x', scale: 0.5 }]);
    expect(JSON.parse(String(form.get('metadata')))).toEqual({ a: 'b' });
    expect(form.has('negative_prompt')).toBe(false);
    expect(form.has('size')).toBe(false);
    const image = form.get('input_reference') as File;
    expect(image.name).toBe('cat.png');
    expect(image.type).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer()).equals(Buffer.from(PNG))).toBe(true);
  });
});

describe('videos.create with input_reference', () => {
  it('uploads a file as multipart and sends the same bytes and key on a retry', async () => {
    const fake = fakeTransport([
      { status: 503, headers: { 'retry-after': '0' }, json: { error: { message: 'busy' } } },
      { json: videoFixture() },
    ]);
    const client = new T2V({ transport: fake.transport, env: {} });
    await client.videos.create({ prompt: 'a cat', size: '1280x704', input_reference: Buffer.from(JPEG) });
    expect(fake.requests).toHaveLength(2);
    const [first, second] = fake.requests;
    expect(first!.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(second!.body).toBe(first!.body);
    expect(second!.headers['idempotency-key']).toBe(first!.headers['idempotency-key']);
    const form = await parse(first!.body, first!.headers['content-type']!);
    expect(form.get('prompt')).toBe('a cat');
    expect(form.get('size')).toBe('1280x704');
    expect((form.get('input_reference') as File).type).toBe('image/jpeg');
  });

  it('sends a data: URL inside the JSON body', async () => {
    const fake = fakeTransport([{ json: videoFixture() }]);
    const dataURL = `data:image/png;base64,${Buffer.from(PNG).toString('base64')}`;
    await new T2V({ transport: fake.transport, env: {} }).videos.create({
      prompt: 'a',
      input_reference: dataURL,
    });
    expect(fake.requests[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(String(fake.requests[0]!.body))).toEqual({ prompt: 'a', input_reference: dataURL });
  });

  it('sends JSON without an image, as before', async () => {
    const fake = fakeTransport([{ json: videoFixture() }]);
    await new T2V({ transport: fake.transport, env: {} }).videos.create({ prompt: 'a' });
    expect(fake.requests[0]!.headers['content-type']).toBe('application/json');
  });
});
