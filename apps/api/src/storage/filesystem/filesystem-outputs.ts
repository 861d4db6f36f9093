import { type Content, type OutputStore, StorageFailed } from '../output-store';
import type { JobFile, StorageService, Variant } from '../storage.service';

/**
 * `T2V_STORAGE_URL` unset (or `file://`): outputs stay in the output directory the workers write
 * to, shared by the replicas through a volume (NFS in the chart). Publishing is checking.
 */
export class FilesystemOutputs implements OutputStore {
  readonly kind = 'filesystem';

  async downloadOrigin(): Promise<string | null> {
    return null;
  }

  constructor(private readonly local: StorageService) {}

  get location(): string {
    return this.local.root;
  }

  pathFor(id: string, file: JobFile): string {
    return this.local.pathFor(id, file);
  }

  async open(): Promise<void> {
    this.local.ensureRoot();
  }

  async close(): Promise<void> {}

  check(): Promise<void> {
    return this.local.checkWritable();
  }

  writeInput(id: string, png: Buffer): Promise<void> {
    return this.local.writeInput(id, png);
  }

  async stageInput(): Promise<void> {}

  removeInput(id: string): Promise<void> {
    return this.local.removeInput(id);
  }

  async publish(id: string): Promise<void> {
    if (!(await this.local.stat(id, 'video')))
      throw new StorageFailed('the worker reported done but the MP4 is not in place');
  }

  async has(id: string, variant: Variant): Promise<boolean> {
    return (await this.local.stat(id, variant)) !== null;
  }

  cloneOutputs(fromId: string, toId: string): Promise<void> {
    return this.local.cloneOutputs(fromId, toId);
  }

  remove(id: string): Promise<void> {
    return this.local.remove(id);
  }

  async content(id: string, variant: Variant): Promise<Content | null> {
    // Opened by the route, which answers a missing file itself.
    return { kind: 'file', path: this.local.pathFor(id, variant) };
  }

  locate(id: string): string {
    return this.local.pathFor(id, 'video');
  }
}
