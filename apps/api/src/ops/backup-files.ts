import * as fs from 'node:fs';
import * as path from 'node:path';

import Database from 'better-sqlite3';

/** What a backup directory holds, written last: a directory without it is not a backup. */
export interface BackupManifest {
  format: 1;
  created_at: string;
  queue: 'embedded' | 'redis';
  /** The job store's copy (embedded only): file name in the backup, and its jobs by status. */
  store: { file: string; jobs: number; by_status: Record<string, number>; outbox: number } | null;
  /** Outputs and input images, copied from T2V_STORAGE_DIR into `outputs/`. */
  outputs: { files: number; bytes: number };
}

export const MANIFEST = 'manifest.json';
export const OUTPUTS = 'outputs';

/** Writes `text` to `file` through a temp file, fsync and rename (never half a file). */
export function writeFileDurably(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A consistent copy of a live SQLite store: `VACUUM INTO` reads the database in one read
 * transaction (in WAL mode the API keeps writing meanwhile), so the copy is the store as of one
 * commit, every acknowledged job before it included. The copy is checked before it is kept.
 */
export function snapshotStore(source: string, target: string): NonNullable<BackupManifest['store']> {
  const db = new Database(source, { fileMustExist: true });
  const tmp = `${target}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true });
  try {
    db.pragma('busy_timeout = 10000');
    db.prepare('VACUUM INTO ?').run(tmp);
  } finally {
    db.close();
  }
  const copy = new Database(tmp, { readonly: true });
  let summary: NonNullable<BackupManifest['store']>;
  try {
    const check = copy.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new Error(`the copy of ${source} fails its integrity check: ${String(check)}`);
    const rows = copy.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as Array<{
      status: string;
      n: number;
    }>;
    const outbox = (copy.prepare('SELECT COUNT(*) AS n FROM webhook_outbox').get() as { n: number }).n;
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    summary = {
      file: path.basename(target),
      jobs: rows.reduce((a, r) => a + r.n, 0),
      by_status: byStatus,
      outbox,
    };
  } finally {
    copy.close();
  }
  fsyncFile(tmp);
  fs.renameSync(tmp, target);
  return summary;
}

/**
 * Copies every finished file of the output directory (videos, thumbnails, input images; not the
 * temp files writers rename into place) that `target` does not already hold with the same size.
 */
export function copyOutputs(from: string, to: string): { files: number; bytes: number } {
  fs.mkdirSync(to, { recursive: true });
  let files = 0;
  let bytes = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(from, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files, bytes };
    throw err;
  }
  for (const e of entries) {
    if (!e.isFile() || e.name.startsWith('.')) continue;
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    let size: number;
    try {
      size = fs.statSync(src).size;
      const existing = fs.statSync(dst, { throwIfNoEntry: false });
      if (!existing || existing.size !== size) {
        const tmp = path.join(to, `.${e.name}.${process.pid}.tmp`);
        fs.copyFileSync(src, tmp, fs.constants.COPYFILE_FICLONE);
        fsyncFile(tmp);
        fs.renameSync(tmp, dst);
      }
    } catch (err) {
      // Removed meanwhile (expired or deleted): its job's record says so in any later backup.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    files += 1;
    bytes += size;
  }
  return { files, bytes };
}

export function readManifest(dir: string): BackupManifest {
  const file = path.join(dir, MANIFEST);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as BackupManifest;
  } catch (err) {
    throw new Error(`${dir} is not a complete t2v backup (${MANIFEST}: ${(err as Error).message})`);
  }
  if (manifest.format !== 1) throw new Error(`${file}: unknown backup format ${String(manifest.format)}`);
  return manifest;
}
