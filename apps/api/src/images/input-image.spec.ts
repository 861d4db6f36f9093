import sharp from 'sharp';

import { ApiError } from '../common/api-error';
import { decodeDataUrl, fitImage, presetForImage, probeImage, sniffFormat } from './input-image';

const LIMITS = { maxBytes: 1024 * 1024, maxPixels: 4_000_000 };
const WAN = ['1280x704', '704x1280', '832x480', '480x832'];
const SYNTHETIC = [...WAN, '320x192', '192x320', '256x256'];

const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return (err as ApiError).toBody().error;
};

describe('presetForImage', () => {
  it('takes the preset closest in aspect ratio, preferring the default pixel count among near ties', () => {
    expect(presetForImage(WAN, '1280x704', 1920, 1080)).toBe('1280x704');
    expect(presetForImage(WAN, '1280x704', 1080, 1920)).toBe('704x1280');
    // 3:2 is a hair closer to 832x480, but within 5% of 1280x704: the default resolution wins.
    expect(presetForImage(WAN, '1280x704', 3000, 2000)).toBe('1280x704');
    // Square on Wan: both orientations are equally far; the landscape default size wins the tie.
    expect(presetForImage(WAN, '1280x704', 1000, 1000)).toBe('1280x704');
    expect(presetForImage(SYNTHETIC, '320x192', 1000, 1000)).toBe('256x256');
    expect(presetForImage(SYNTHETIC, '320x192', 1280, 720)).toBe('320x192');
    expect(presetForImage(SYNTHETIC, '320x192', 720, 1280)).toBe('192x320');
  });
});

describe('sniffFormat and decodeDataUrl', () => {
  it('knows PNG, JPEG and WebP by their first bytes only', () => {
    expect(sniffFormat(Buffer.from('89504e470d0a1a0a00', 'hex'))).toBe('png');
    expect(sniffFormat(Buffer.from('ffd8ffe000', 'hex'))).toBe('jpeg');
    expect(sniffFormat(Buffer.from('RIFF\u0000\u0000\u0000\u0000WEBPVP8 ', 'latin1'))).toBe('webp');
    expect(sniffFormat(Buffer.from('GIF89a'))).toBeNull();
    expect(sniffFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
  });

  it('decodes base64 data: URLs and refuses remote URLs, other schemes and oversized payloads', async () => {
    expect(decodeDataUrl('data:image/png;base64,aGk=', 100)).toEqual(Buffer.from('hi'));
    expect(decodeDataUrl('data:;base64,aGk=', 100)).toEqual(Buffer.from('hi'));
    const remote = await refusal(Promise.resolve().then(() => decodeDataUrl('https://x/cat.png', 100)));
    expect(remote).toMatchObject({ param: 'input_reference' });
    expect(remote.message).toContain('remote URLs is off');
    const plain = await refusal(Promise.resolve().then(() => decodeDataUrl('data:image/png,abc', 100)));
    expect(plain.message).toContain('base64');
    const big = await refusal(
      Promise.resolve().then(() => decodeDataUrl(`data:image/png;base64,${'A'.repeat(400)}`, 100)),
    );
    expect(big).toMatchObject({ param: 'input_reference', code: 'image_too_large' });
  });
});

describe('probeImage and fitImage', () => {
  const solid = (width: number, height: number, format: 'png' | 'jpeg' | 'webp') =>
    sharp({ create: { width, height, channels: 3, background: '#c83232' } })
      .toFormat(format)
      .toBuffer();

  it('reads the size of PNG, JPEG and WebP, with EXIF orientation applied', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      expect(await probeImage(await solid(300, 200, format), LIMITS)).toEqual({
        format,
        width: 300,
        height: 200,
        frames: 1,
      });
    }
    const sideways = await sharp(await solid(300, 200, 'jpeg'))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    expect(await probeImage(sideways, LIMITS)).toMatchObject({ width: 200, height: 300 });
    expect(await fitImage(sideways, 64, 96, 'stretch', LIMITS)).toMatchObject({ width: 64, height: 96 });
  });

  it('refuses by header before decoding: too many pixels, too many bytes; a JPEG cut short fails to decode', async () => {
    const huge = await solid(2500, 2000, 'png');
    expect(await refusal(probeImage(huge, LIMITS))).toMatchObject({ code: 'image_too_large' });
    expect(await refusal(probeImage(Buffer.alloc(LIMITS.maxBytes + 1), LIMITS))).toMatchObject({
      code: 'image_too_large',
    });
    const jpeg = await solid(300, 200, 'jpeg');
    const cut = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    await probeImage(cut, LIMITS); // the header is intact
    expect(await refusal(fitImage(cut, 64, 64, 'crop', LIMITS))).toMatchObject({
      param: 'input_reference',
      code: 'invalid_image',
    });
  });

  it('fits to exactly the size, deterministically, each mode giving its own PNG', async () => {
    const image = await solid(300, 200, 'png');
    const a = await fitImage(image, 128, 128, 'crop', LIMITS);
    const b = await fitImage(image, 128, 128, 'crop', LIMITS);
    expect(a.sha256).toBe(b.sha256);
    expect(await sharp(a.png).metadata()).toMatchObject({ format: 'png', width: 128, height: 128 });
    const pad = await fitImage(image, 128, 128, 'pad', LIMITS);
    expect(pad.sha256).not.toBe(a.sha256);
    const { data } = await sharp(pad.png).raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([0, 0, 0]); // the bar above the image
    expect([...data.subarray((64 * 128 + 64) * 3, (64 * 128 + 64) * 3 + 3)]).toEqual([200, 50, 50]);
  });
});
