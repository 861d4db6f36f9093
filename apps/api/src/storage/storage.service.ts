import * as fs from 'node:fs';
import * as path from 'node:path';

import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';

const ID_PATTERN = /^video_[0-9A-Za-z]{26}$/;

export type Variant = 'video' | 'thumbnail';
/** What a job's files are: its outputs, and the fitted conditioning image of an image-to-video job. */
export type JobFile = Variant | 'input';

const FILE_NAME: Record<JobFile, string> = { video: '.mp4', thumbnail: '.jpg', input: '.input.png' };

/**
 * The one place that touches the output root. File names come from job ids (validated), never
 * from user input; writers use temp file + fsync + rename so a reader never sees half a file.
 */
@Injectable()
export class StorageService {
  readonly root: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.root = config.storageDir;
  }

  static isValidId(id: string): boolean {
    return ID_PATTERN.test(id);
  }

  ensureRoot(): void {
    fs.mkdirSync(this.root, { recursive: true });
  }

  pathFor(id: string, file: JobFile): string {
    if (!StorageService.isValidId(id)) throw new Error(`invalid job id for storage: ${id}`);
    return path.join(this.root, `${id}${FILE_NAME[file]}`);
  }

  /**
   * Stores the fitted input image of a job beside its outputs: temp file, fsync, rename, so a
   * worker (on any replica sharing the volume) never reads half of it.
   */
  async writeInput(id: string, png: Buffer): Promise<void> {
    const dst = this.pathFor(id, 'input');
    const tmp = path.join(this.root, `.${id}.input.${process.pid}.tmp.png`);
    try {
      const fh = await fs.promises.open(tmp, 'w');
      try {
        await fh.writeFile(png);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, dst);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Removes a job's input image: a create not accepted after all, or a job that ended without output. */
  async removeInput(id: string): Promise<void> {
    await fs.promises.rm(this.pathFor(id, 'input'), { force: true });
  }

  async stat(id: string, variant: JobFile): Promise<fs.Stats | null> {
    try {
      const st = await fs.promises.stat(this.pathFor(id, variant));
      return st.isFile() ? st : null;
    } catch {
      return null;
    }
  }

  /** Copies (hard link when possible) the outputs of one job to another: cached results. */
  async cloneOutputs(fromId: string, toId: string): Promise<void> {
    for (const variant of ['video', 'thumbnail'] as const) {
      const src = this.pathFor(fromId, variant);
      const dst = this.pathFor(toId, variant);
      try {
        await fs.promises.link(src, dst);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        const tmp = `${dst}.${process.pid}.tmp`;
        await fs.promises.copyFile(src, tmp);
        const fh = await fs.promises.open(tmp, 'r');
        await fh.sync();
        await fh.close();
        await fs.promises.rename(tmp, dst);
      }
    }
  }

  /** Removes every file of a job: its outputs and its input image. */
  async remove(id: string): Promise<void> {
    await Promise.all(
      (['video', 'thumbnail', 'input'] as const).map((v) =>
        fs.promises.rm(this.pathFor(id, v), { force: true }),
      ),
    );
  }

  /**
   * Removes the temp files writers leave behind when they crash (`.<name>.<pid>.tmp*`), those
   * older than `olderThanMs` only (0: all of them).
   */
  removeStrayTempFiles(olderThanMs: number): void {
    for (const name of fs.readdirSync(this.root)) {
      if (!name.startsWith('.') || !name.includes('.tmp')) continue;
      const file = path.join(this.root, name);
      if (olderThanMs > 0) {
        const mtime = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;
        if (Date.now() - mtime < olderThanMs) continue;
      }
      fs.rmSync(file, { force: true });
    }
  }

  /** Writes, syncs and removes a probe file: readiness needs a writable output root. */
  async checkWritable(): Promise<void> {
    const probe = path.join(this.root, `.probe-${process.pid}`);
    const fh = await fs.promises.open(probe, 'w');
    try {
      await fh.writeFile('ok');
      await fh.sync();
    } finally {
      await fh.close();
      await fs.promises.rm(probe, { force: true });
    }
  }
}
