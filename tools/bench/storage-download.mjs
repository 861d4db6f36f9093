// Downloads from a bucket: `GET /v1/videos/{id}/content` with T2V_STORAGE_DOWNLOAD=proxy (the API
// streams the object) against =redirect (a 302 to a presigned URL, the client fetches from the
// bucket), on one SeaweedFS (tools/seaweedfs/weed-server.mjs) and one Redis, two API processes
// (role api) reading the same job, all on loopback. Baseline in the same run: the presigned URL
// fetched directly (what the bucket gives with no API in front). The job's MP4 object is replaced
// by `mib` MiB of random bytes so the transfer, not the request, is what is measured.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

import { startBuiltApi } from '../scripts/api-process.mjs';
import { startWeedServer } from '../seaweedfs/weed-server.mjs';
import { redisNode } from './redis-durability-bench.mjs';

const BUCKET = 't2v-bench';

async function download(url) {
  const started = performance.now();
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.length;
  return { bytes, ms: performance.now() - started };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function runStorageDownloadBench({ mib = 64, rounds = 8 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-bench-seaweedfs-'));
  const weed = await startWeedServer({ dir });
  const client = new S3Client({
    endpoint: weed.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: weed.accessKey, secretAccessKey: weed.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const redis = await redisNode([]);
  const apis = [];
  try {
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const env = (download) => ({
      T2V_STORAGE_URL: `s3://${BUCKET}/bench`,
      T2V_S3_ENDPOINT: weed.endpoint,
      T2V_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: weed.accessKey,
      AWS_SECRET_ACCESS_KEY: weed.secretKey,
      T2V_QUEUE: 'redis',
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      T2V_STORAGE_DOWNLOAD: download,
    });
    const runner = await startBuiltApi({ ...env('redirect'), T2V_ROLE: 'all', T2V_SYNTHETIC_STEP_MS: '1' });
    apis.push(runner);
    const proxy = await startBuiltApi({ ...env('proxy'), T2V_ROLE: 'api' });
    apis.push(proxy);
    const created = await (
      await fetch(`${runner.url}/v1/videos`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer: 'wait=60' },
        body: JSON.stringify({ prompt: 'bench', seconds: 1, size: '256x256', num_inference_steps: 2 }),
      })
    ).json();
    if (created.status !== 'completed')
      throw new Error(`bench job did not complete: ${JSON.stringify(created)}`);
    const key = `bench/${created.id}.mp4`;
    const payload = randomBytes(mib * 2 ** 20);
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: payload, ContentType: 'video/mp4' }),
    );
    const presigned = await getSignedUrl(client, new GetObjectCommand({ Bucket: BUCKET, Key: key }), {
      expiresIn: 3600,
    });
    const modes = {
      bucket: () => presigned,
      redirect: () => `${runner.url}/v1/videos/${created.id}/content`,
      proxy: () => `${proxy.url}/v1/videos/${created.id}/content`,
    };
    const times = { bucket: [], redirect: [], proxy: [] };
    // One warm-up each, then the modes interleaved so drift on a shared machine hits them alike.
    for (const m of Object.keys(modes)) await download(modes[m]());
    for (let i = 0; i < rounds; i++) {
      for (const m of Object.keys(modes)) {
        const { bytes, ms } = await download(modes[m]());
        if (bytes !== payload.length) throw new Error(`${m} returned ${bytes} bytes, not ${payload.length}`);
        times[m].push(ms);
      }
    }
    const mbps = (ms) => Math.round((payload.length / 2 ** 20 / (ms / 1000)) * 10) / 10;
    const result = { mib, rounds };
    for (const m of Object.keys(times))
      result[m] = { median_ms: Math.round(median(times[m])), mib_s: mbps(median(times[m])) };
    result.redirect_vs_proxy = Math.round((median(times.proxy) / median(times.redirect)) * 100) / 100;
    result.proxy_vs_bucket = Math.round((median(times.bucket) / median(times.proxy)) * 100) / 100;
    result.redirect_vs_bucket = Math.round((median(times.bucket) / median(times.redirect)) * 100) / 100;
    return result;
  } finally {
    for (const api of apis) api.stop();
    redis.stop();
    client.destroy();
    await weed.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function storageDownloadSection(r) {
  return `## Downloads from a bucket: redirect vs proxy

\`GET /v1/videos/{id}/content\` with outputs in a bucket (\`T2V_STORAGE_URL=s3://…\`, SeaweedFS on
loopback), ${r.rounds} sequential downloads of a ${r.mib} MiB object per mode, interleaved, after one
warm-up each (\`tools/bench/storage-download.mjs\`). \`redirect\`: the API answers 302 to a presigned
URL and the client fetches it from the bucket. \`proxy\`: the API streams the object. Baseline: the
presigned URL fetched directly, with no API in front. Client, API, and bucket share the same 2
cores, so the proxy's extra copy costs CPU the bucket also needs; on separate hosts the proxy's
cost is the API pods' bandwidth.

| mode | median ms | MiB/s |
|---|---|---|
| bucket directly (baseline) | ${r.bucket.median_ms} | ${r.bucket.mib_s} |
| redirect (302 + presigned GET) | ${r.redirect.median_ms} | ${r.redirect.mib_s} |
| proxy (through the API) | ${r.proxy.median_ms} | ${r.proxy.mib_s} |

Redirect is **${r.redirect_vs_proxy}×** the proxy's throughput; redirect / bucket directly:
${r.redirect_vs_bucket}×; proxy / bucket directly: ${r.proxy_vs_bucket}×.
`;
}
