import type { Readable } from 'node:stream';

import type { JobFile, Variant } from './storage.service';

/** Injection token of the configured output store (filesystem or s3). */
export const OUTPUT_STORE = Symbol('OUTPUT_STORE');

/**
 * Where a completed job's file can be read from, for the content route (which owns HTTP): a local
 * file, a presigned URL to redirect to, or a stream of any byte range of an object.
 */
export type Content =
  | { kind: 'file'; path: string }
  | { kind: 'redirect'; url: string }
  | {
      kind: 'stream';
      size: number;
      modified: Date | undefined;
      open: (start: number, end: number) => Promise<Readable>;
    };

/**
 * Where a job's files live once it is done: the shared output directory (`filesystem`, the
 * default) or a bucket (`s3`). Workers always write to the local output directory (on `s3`, a
 * scratch directory); `publish` makes a finished job's files durable where every replica reads
 * them, and is the last step before a job may be `completed`. Picked by `T2V_STORAGE_URL`
 * (storage/output-store.factory.ts); nothing outside `storage/` knows which one runs.
 */
export interface OutputStore {
  readonly kind: 'filesystem' | 's3';
  /** Where outputs go, for logs and readiness: a directory or `s3://bucket/prefix`. */
  readonly location: string;
  /** Where a worker on this process writes (or reads) a job's file: the output directory, or scratch. */
  pathFor(id: string, file: JobFile): string;
  /** Checks the store at boot (reachable, bucket there, credentials accepted); throws a ConfigError naming what to set. */
  open(): Promise<void>;
  close(): Promise<void>;
  /** Readiness: the store accepts a write now. */
  check(): Promise<void>;
  /** Stores a job's fitted input image where the worker that runs it can read it. */
  writeInput(id: string, png: Buffer): Promise<void>;
  /** Puts a job's input image at its local path before a worker reads it (a no-op on a shared directory). */
  stageInput(id: string): Promise<void>;
  removeInput(id: string): Promise<void>;
  /**
   * Makes a finished job's outputs durable: on `s3` uploads the MP4 and thumbnail from scratch
   * (retried with backoff), confirms them, then removes the scratch files. Rejects with
   * `StorageFailed` when that cannot be done; the job must then fail, never complete.
   */
  publish(id: string): Promise<void>;
  has(id: string, variant: Variant): Promise<boolean>;
  /** Copies one job's outputs to another's names (a cached result). */
  cloneOutputs(fromId: string, toId: string): Promise<void>;
  /** Removes every file of a job, wherever it is: outputs, input image, scratch. */
  remove(id: string): Promise<void>;
  /**
   * The origin downloads are redirected to (a bucket's, for the playground's content policy), or
   * null when the API serves every file itself.
   */
  downloadOrigin(): Promise<string | null>;
  /** How to read a file of a job (null: the object is not there). */
  content(id: string, variant: Variant): Promise<Content | null>;
  /** Where a completed job's MP4 is, for clients that print it: a path or an `s3://` URL. */
  locate(id: string): string;
}

/** The store could not take or confirm a job's files (after its retries): the job fails STORAGE_ERROR. */
export class StorageFailed extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageFailed';
  }
}
