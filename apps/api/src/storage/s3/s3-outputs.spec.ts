import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type SeaweedS3, startSeaweed } from '@t2v/testing/seaweedfs';

import type { AppConfig, S3Settings } from '../../config/config.schema';
import { StorageService } from '../storage.service';
import { S3Outputs } from './s3-outputs';

/** The bucket driver against a real SeaweedFS on loopback: multipart uploads and idempotent publishing. */
jest.setTimeout(60_000);

const BUCKET = 't2v-driver';
const ID = 'video_01HZZZZZZZZZZZZZZZZZZZZZZZ';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let s3: SeaweedS3;
let scratch: string;
let store: S3Outputs;

beforeAll(async () => {
  s3 = await startSeaweed();
  await s3.createBucket(BUCKET);
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-s3-driver-'));
  const env = s3.env(BUCKET);
  process.env['AWS_ACCESS_KEY_ID'] = env['AWS_ACCESS_KEY_ID'];
  process.env['AWS_SECRET_ACCESS_KEY'] = env['AWS_SECRET_ACCESS_KEY'];
  const settings: S3Settings = {
    kind: 's3',
    bucket: BUCKET,
    prefix: 'p/',
    endpoint: s3.endpoint,
    publicEndpoint: undefined,
    region: 'us-east-1',
    forcePathStyle: true,
    download: 'redirect',
    urlTtlS: 60,
    partBytes: 5 * 2 ** 20,
    retries: 2,
    retryMs: 50,
    timeoutS: 10,
  };
  store = new S3Outputs(settings, new StorageService({ storageDir: scratch } as AppConfig));
  await store.open();
});
afterAll(async () => {
  await store?.close();
  await s3?.dispose();
  fs.rmSync(scratch, { recursive: true, force: true });
  delete process.env['AWS_ACCESS_KEY_ID'];
  delete process.env['AWS_SECRET_ACCESS_KEY'];
});

it('uploads a file larger than a part in parts, confirms it, removes scratch; publishing again is a no-op', async () => {
  const video = randomBytes(11 * 2 ** 20 + 123);
  fs.writeFileSync(store.pathFor(ID, 'video'), video);
  fs.writeFileSync(store.pathFor(ID, 'thumbnail'), Buffer.from('jpeg'));
  await store.publish(ID);
  expect(sha(await s3.read(BUCKET, `p/${ID}.mp4`))).toBe(sha(video));
  expect((await s3.read(BUCKET, `p/${ID}.jpg`)).toString()).toBe('jpeg');
  expect(fs.readdirSync(scratch).filter((f) => !f.startsWith('.'))).toEqual([]);
  await store.publish(ID);
  expect(await store.has(ID, 'video')).toBe(true);
  await store.remove(ID);
  expect(await s3.keys(BUCKET, 'p/')).toEqual([]);
});

it('a job whose worker wrote no MP4 is refused, not published', async () => {
  await expect(store.publish('video_01HYYYYYYYYYYYYYYYYYYYYYYY')).rejects.toThrow(/MP4 is not in place/);
});
