// Time to check and fit an input_reference image: a 4032x3024 JPEG (a 12 MP phone photo) probed
// and fitted to 1280x704 (crop, pad, stretch) and to 832x480, as POST /v1/videos does, against a
// baseline measured in the same run: decoding the same JPEG to raw pixels and nothing else.
//   npx nx run api:build && node tools/bench/image-fit.mjs [--rounds N]
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sharp = require('sharp');
const { fitImage, probeImage } = require(path.join(REPO, 'dist/apps/api/images/input-image.js'));

const LIMITS = { maxBytes: 10 * 1024 * 1024, maxPixels: 50_000_000 };

/** A photo-like 4032x3024 JPEG: smooth gradients plus noise, so it neither compresses to nothing nor is pure noise. */
async function photo(width = 4032, height = 3024) {
  const raw = Buffer.alloc(width * height * 3);
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const n = rand() >> 3;
      raw[o] = ((x * 255) / width + n) & 255;
      raw[o + 1] = ((y * 255) / height + n) & 255;
      raw[o + 2] = (((x + y) * 127) / (width + height) + 64 + n) & 255;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function median(rounds, fn) {
  await fn(); // warm-up
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export async function runImageFitBench({ rounds = 9 } = {}) {
  const jpeg = await photo();
  const decode = await median(rounds, () => sharp(jpeg).raw().toBuffer());
  const cases = {};
  for (const [name, w, h, fit] of [
    ['1280x704 crop', 1280, 704, 'crop'],
    ['1280x704 pad', 1280, 704, 'pad'],
    ['1280x704 stretch', 1280, 704, 'stretch'],
    ['832x480 crop', 832, 480, 'crop'],
  ]) {
    const ms = await median(rounds, async () => {
      await probeImage(jpeg, LIMITS);
      await fitImage(jpeg, w, h, fit, LIMITS);
    });
    cases[name] = { median_ms: +ms.toFixed(1), vs_decode: +(ms / decode).toFixed(2) };
  }
  return {
    input: `4032x3024 JPEG, ${(jpeg.length / 1e6).toFixed(1)} MB`,
    rounds,
    sharp: sharp.versions.sharp,
    threads: sharp.concurrency(),
    baseline_decode_median_ms: +decode.toFixed(1),
    probe_and_fit: cases,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--rounds');
  const rounds = i > 0 ? Number(process.argv[i + 1]) : 9;
  console.log(JSON.stringify(await runImageFitBench({ rounds }), null, 2));
}
