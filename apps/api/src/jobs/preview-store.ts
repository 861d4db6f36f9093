import type { PreviewMime } from '@t2v/contracts';

/** The latest live preview of one running job, as the API holds and serves it. */
export interface Preview {
  jobId: string;
  /** Denoising step it shows (1..total-1). */
  step: number;
  total: number;
  mime: PreviewMime;
  /** Pixel size of the picture. */
  width: number;
  height: number;
  /** Unix seconds when the worker sent it. */
  createdAt: number;
  data: Buffer;
}

/**
 * The latest preview of each running job, in memory only (never in the job record): a bounded
 * map that forgets the least recently updated job's preview first once `maxBytes` is used. A
 * job's preview is dropped when it leaves `in_progress`.
 */
export class PreviewStore {
  private readonly byJob = new Map<string, Preview>();
  private used = 0;

  constructor(readonly maxBytes: number) {}

  /** Keeps `preview` as its job's latest; false when it is older than the one held or too large. */
  put(preview: Preview): boolean {
    const held = this.byJob.get(preview.jobId);
    if (held && held.step >= preview.step) return false;
    if (preview.data.length > this.maxBytes) return false;
    this.drop(preview.jobId);
    this.byJob.set(preview.jobId, preview);
    this.used += preview.data.length;
    // Map order is insertion order: the first entry is the least recently updated job.
    for (const [id, oldest] of this.byJob) {
      if (this.used <= this.maxBytes) break;
      this.byJob.delete(id);
      this.used -= oldest.data.length;
    }
    return true;
  }

  get(jobId: string): Preview | undefined {
    return this.byJob.get(jobId);
  }

  drop(jobId: string): void {
    const held = this.byJob.get(jobId);
    if (!held) return;
    this.byJob.delete(jobId);
    this.used -= held.data.length;
  }

  /** Bytes held now (at most `maxBytes`). */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.byJob.size;
  }
}
