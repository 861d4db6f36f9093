/**
 * A real S3-compatible server for t2v's object-storage tests: SeaweedFS (`weed server`) on
 * 127.0.0.1, started through tools/seaweedfs/weed-server.mjs (free ports, one identity, its own
 * directory). Build the binary first: `bash tools/seaweedfs/install-seaweedfs.sh`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as readline from 'node:readline';

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';

import { WORKSPACE_ROOT } from './workspace-root.js';

const LAUNCHER = join(WORKSPACE_ROOT, 'tools/seaweedfs/weed-server.mjs');

export interface SeaweedS3 {
  /** The S3 gateway, e.g. http://127.0.0.1:41234 */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** A client for the test's own checks. */
  client: S3Client;
  /** Creates a bucket and writes one object to it (the server's first write allocates its volumes). */
  createBucket: (name: string) => Promise<void>;
  /** Keys under `prefix` in `bucket`, sorted. */
  keys: (bucket: string, prefix?: string) => Promise<string[]>;
  read: (bucket: string, key: string) => Promise<Buffer>;
  remove: (bucket: string, key: string) => Promise<void>;
  /** The API's settings for `s3://bucket[/prefix]` on this server (path-style, these keys). */
  env: (bucket: string, prefix?: string) => Record<string, string>;
  /** Kills the server: connections are refused until `start`, which brings it back on the same ports and data. */
  stop: () => Promise<void>;
  start: () => Promise<void>;
  /** Stops it and removes its directory. */
  dispose: () => Promise<void>;
}

interface Launched {
  child: ChildProcess;
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

function launch(dir: string): Promise<Launched> {
  const child = spawn(process.execPath, [LAUNCHER, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let errors = '';
  child.stderr?.on('data', (d) => (errors += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`SeaweedFS did not start in 90 s:\n${errors}`));
    }, 90_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`SeaweedFS launcher exited with ${code}:\n${errors}`));
    });
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ child, ...(JSON.parse(line) as Omit<Launched, 'child'>) });
    });
  });
}

async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
}

/** Starts SeaweedFS on loopback; resolves once its S3 gateway answers. */
export async function startSeaweed(): Promise<SeaweedS3> {
  const dir = mkdtempSync(join(tmpdir(), 't2v-seaweedfs-'));
  let server = await launch(dir);
  const { endpoint, accessKey, secretKey } = server;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    accessKey,
    secretKey,
    client,
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
      await client.send(new PutObjectCommand({ Bucket: name, Key: '.warm-up', Body: 'ok' }));
      await client.send(new DeleteObjectCommand({ Bucket: name, Key: '.warm-up' }));
    },
    keys: async (bucket, prefix = '') => {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
    },
    read: async (bucket, key) => {
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await got.Body!.transformToByteArray());
    },
    remove: async (bucket, key) => {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    env: (bucket, prefix = '') => ({
      T2V_STORAGE_URL: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
      T2V_S3_ENDPOINT: endpoint,
      T2V_S3_REGION: 'us-east-1',
      T2V_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: accessKey,
      AWS_SECRET_ACCESS_KEY: secretKey,
    }),
    stop: () => end(server.child),
    start: async () => {
      server = await launch(dir);
    },
    dispose: async () => {
      await end(server.child);
      client.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
