import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

import { ConfigError } from '../../config/config.schema';
import type { S3Settings } from '../../config/config.schema';
import { appLogger } from '../../logging/logger';
import { type Content, type OutputStore, StorageFailed } from '../output-store';
import type { JobFile, StorageService, Variant } from '../storage.service';

const SUFFIX: Record<JobFile, string> = { video: '.mp4', thumbnail: '.jpg', input: '.input.png' };
const TYPE: Record<JobFile, string> = { video: 'video/mp4', thumbnail: 'image/jpeg', input: 'image/png' };

/**
 * `T2V_STORAGE_URL=s3://bucket/prefix`: outputs live in an S3-compatible bucket. Workers write to
 * the local output directory (scratch); `publish` uploads a finished job's MP4 and thumbnail
 * (one PUT up to a part's size, multipart above it; every PUT and part carries its MD5, which the
 * server checks), confirms each object's size, then removes the scratch files. Content is served
 * by a 302 to a presigned URL or streamed through the API (`T2V_STORAGE_DOWNLOAD`).
 * Credentials come from the AWS SDK's default chain (environment, profile, web identity,
 * container or instance metadata). docs/adr/0070-object-storage.md.
 */
export class S3Outputs implements OutputStore {
  readonly kind = 's3';
  private readonly logger = appLogger('storage');
  private readonly client: S3Client;
  private readonly signer: S3Client;

  constructor(
    private readonly settings: S3Settings,
    private readonly local: StorageService,
  ) {
    this.client = S3Outputs.client(settings, settings.endpoint);
    this.signer = settings.publicEndpoint ? S3Outputs.client(settings, settings.publicEndpoint) : this.client;
  }

  private static client(s: S3Settings, endpoint: string | undefined): S3Client {
    return new S3Client({
      region: s.region,
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: s.forcePathStyle,
      // One SDK retry for a dropped connection; `publish` owns the longer retry with backoff.
      maxAttempts: 2,
      requestHandler: {
        connectionTimeout: 5_000,
        requestTimeout: s.timeoutS * 1000,
        throwOnRequestTimeout: true,
      },
      // Integrity is checked with Content-MD5 on every write, which every S3-compatible server
      // verifies; the newer default checksums are not understood by all of them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  get location(): string {
    return `s3://${this.settings.bucket}/${this.settings.prefix}`;
  }

  private key(id: string, file: JobFile): string {
    // pathFor validates the id: a key is never built from anything else.
    this.local.pathFor(id, file);
    return `${this.settings.prefix}${id}${SUFFIX[file]}`;
  }

  pathFor(id: string, file: JobFile): string {
    return this.local.pathFor(id, file);
  }

  async open(): Promise<void> {
    this.local.ensureRoot();
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
      // HEAD passes with read-only credentials: prove a write and a delete, as the workers need.
      const probe = `${this.settings.prefix}.t2v-probe-${hostname()}-${process.pid}`;
      await this.putBuffer(probe, Buffer.from('ok'), 'text/plain');
      await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: probe }));
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  ${this.explain(err)}`);
    }
    this.logger.info(
      `outputs in ${this.location} (${this.settings.endpoint ?? 'AWS'}), downloads by ${this.settings.download}`,
    );
  }

  /** What went wrong at boot, naming the setting to change. */
  private explain(err: unknown): string {
    const e = err as S3ServiceException & { code?: string };
    const status = e.$metadata?.httpStatusCode;
    const where = `T2V_STORAGE_URL=${this.location} at ${this.settings.endpoint ? `T2V_S3_ENDPOINT=${this.settings.endpoint}` : `AWS region ${this.settings.region}`}`;
    if (
      e.name === 'CredentialsProviderError' ||
      (/credential/i.test(e.message ?? '') && status === undefined)
    )
      return `${where}: no AWS credentials found (${e.message}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (workload identity)`;
    if (status === 404 || e.name === 'NoSuchBucket' || e.name === 'NotFound')
      return `${where}: bucket '${this.settings.bucket}' does not exist; create it or set T2V_STORAGE_URL to an existing bucket`;
    if (
      status === 403 ||
      status === 401 ||
      e.name === 'InvalidAccessKeyId' ||
      e.name === 'SignatureDoesNotMatch'
    )
      return `${where}: the credentials were refused (${e.name}${status ? ` ${status}` : ''}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the role of the service account) to ones allowed to read and write the bucket`;
    if (status === 301) return `${where}: the bucket is in another region; set T2V_S3_REGION to its region`;
    if (status !== undefined) return `${where}: the server answered ${status} (${e.name}: ${e.message})`;
    return `${where}: cannot reach the S3 endpoint (${e.code ?? e.name}: ${e.message}); set T2V_S3_ENDPOINT to a reachable S3-compatible server`;
  }

  async close(): Promise<void> {
    this.client.destroy();
    if (this.signer !== this.client) this.signer.destroy();
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    // Workers still write here first.
    await this.local.checkWritable();
  }

  async writeInput(id: string, png: Buffer): Promise<void> {
    await this.putBuffer(this.key(id, 'input'), png, TYPE.input);
  }

  async stageInput(id: string): Promise<void> {
    if (await this.local.stat(id, 'input')) return;
    const got = await this.client.send(
      new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(id, 'input') }),
    );
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    await this.local.writeInput(id, bytes);
  }

  async removeInput(id: string): Promise<void> {
    await this.deleteObject(this.key(id, 'input'));
    await this.local.removeInput(id);
  }

  async publish(id: string): Promise<void> {
    for (const variant of ['video', 'thumbnail'] as const) {
      const file = this.local.pathFor(id, variant);
      const size = (await this.local.stat(id, variant))?.size;
      if (size === undefined) {
        // Published before (a settle that is being retried) or never written.
        if (await this.has(id, variant)) continue;
        if (variant === 'thumbnail') continue;
        throw new StorageFailed('the worker reported done but the MP4 is not in place');
      }
      await this.withRetries(
        `upload of ${variant} to s3://${this.settings.bucket}/${this.key(id, variant)}`,
        () => this.upload(file, size, this.key(id, variant), variant),
      );
    }
    await this.local.remove(id);
  }

  /** Runs `op` up to `retries` times, waiting `retryMs` · 2^n between tries; then StorageFailed. */
  private async withRetries(what: string, op: () => Promise<void>): Promise<void> {
    const { retries, retryMs } = this.settings;
    for (let attempt = 1; ; attempt++) {
      try {
        await op();
        return;
      } catch (err) {
        const message = (err as Error).message || (err as Error).name;
        if (attempt >= retries)
          throw new StorageFailed(`${what} failed after ${attempt} attempts: ${message}`, { cause: err });
        const wait = Math.min(retryMs * 2 ** (attempt - 1), 60_000);
        this.logger.warn(
          `${what} failed (attempt ${attempt} of ${retries}), retrying in ${wait} ms: ${message}`,
        );
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** One object from a local file: one checked PUT, or a checked multipart upload; then its size is confirmed. */
  private async upload(file: string, size: number, key: string, variant: Variant): Promise<void> {
    const part = this.settings.partBytes;
    const meta = {
      Bucket: this.settings.bucket,
      Key: key,
      ContentType: TYPE[variant],
      ContentDisposition: `inline; filename="${key.slice(this.settings.prefix.length)}"`,
    };
    if (size <= part) {
      await this.putBuffer(key, await fs.promises.readFile(file), TYPE[variant], meta.ContentDisposition);
    } else {
      const { UploadId } = await this.client.send(new CreateMultipartUploadCommand(meta));
      try {
        const parts: { PartNumber: number; ETag: string | undefined }[] = [];
        const fh = await fs.promises.open(file, 'r');
        try {
          for (let offset = 0, n = 1; offset < size; offset += part, n++) {
            const chunk = Buffer.alloc(Math.min(part, size - offset));
            await fh.read(chunk, 0, chunk.length, offset);
            const { ETag } = await this.client.send(
              new UploadPartCommand({
                Bucket: meta.Bucket,
                Key: key,
                UploadId,
                PartNumber: n,
                Body: chunk,
                ContentLength: chunk.length,
                ContentMD5: md5(chunk),
              }),
            );
            parts.push({ PartNumber: n, ETag });
          }
        } finally {
          await fh.close();
        }
        await this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: meta.Bucket,
            Key: key,
            UploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
      } catch (err) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: meta.Bucket, Key: key, UploadId }))
          .catch(() => undefined);
        throw err;
      }
    }
    const head = await this.client.send(new HeadObjectCommand({ Bucket: meta.Bucket, Key: key }));
    if (head.ContentLength !== size)
      throw new Error(
        `s3://${meta.Bucket}/${key} holds ${head.ContentLength} bytes after the upload, not ${size}`,
      );
  }

  private async putBuffer(key: string, body: Buffer, type: string, disposition?: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: type,
        ContentMD5: md5(body),
        ...(disposition ? { ContentDisposition: disposition } : {}),
      }),
    );
  }

  private async head(key: string): Promise<{ size: number; modified: Date | undefined } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: key }));
      return { size: head.ContentLength ?? 0, modified: head.LastModified };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async has(id: string, variant: Variant): Promise<boolean> {
    return (await this.head(this.key(id, variant))) !== null;
  }

  async cloneOutputs(fromId: string, toId: string): Promise<void> {
    for (const variant of ['video', 'thumbnail'] as const) {
      try {
        await this.client.send(
          new CopyObjectCommand({
            Bucket: this.settings.bucket,
            Key: this.key(toId, variant),
            CopySource: `${this.settings.bucket}/${encodeURI(this.key(fromId, variant))}`,
          }),
        );
      } catch (err) {
        if (variant === 'thumbnail' && isNotFound(err)) continue;
        throw err;
      }
    }
  }

  private async deleteObject(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async remove(id: string): Promise<void> {
    // Scratch first: it goes even while the bucket cannot be reached.
    await this.local.remove(id);
    await Promise.all(
      (['video', 'thumbnail', 'input'] as const).map((f) => this.deleteObject(this.key(id, f))),
    );
  }

  async downloadOrigin(): Promise<string | null> {
    if (this.settings.download !== 'redirect') return null;
    // Signing is local: the origin of any presigned URL is where every download goes.
    const url = await getSignedUrl(
      this.signer,
      new GetObjectCommand({ Bucket: this.settings.bucket, Key: `${this.settings.prefix}.t2v-origin` }),
      { expiresIn: 60 },
    );
    return new URL(url).origin;
  }

  async content(id: string, variant: Variant): Promise<Content | null> {
    const key = this.key(id, variant);
    // Checked first: a missing object is the API's 404, not a redirect to the bucket's error.
    const found = await this.head(key);
    if (!found) return null;
    if (this.settings.download === 'redirect') {
      const url = await getSignedUrl(
        this.signer,
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: key }),
        {
          expiresIn: this.settings.urlTtlS,
        },
      );
      return { kind: 'redirect', url };
    }
    return {
      kind: 'stream',
      ...found,
      open: async (start, end) => {
        const got = await this.client.send(
          new GetObjectCommand({ Bucket: this.settings.bucket, Key: key, Range: `bytes=${start}-${end}` }),
        );
        return got.Body as Readable;
      },
    };
  }

  locate(id: string): string {
    return `s3://${this.settings.bucket}/${this.key(id, 'video')}`;
  }
}

function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('base64');
}

function isNotFound(err: unknown): boolean {
  const e = err as S3ServiceException;
  return e?.$metadata?.httpStatusCode === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey';
}
