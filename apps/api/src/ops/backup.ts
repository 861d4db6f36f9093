/**
 * `node dist/apps/api/ops/backup.js <directory>`: backs up this deployment while it serves, with
 * the API's own environment (T2V_QUEUE, T2V_DATA_DIR, T2V_STORAGE_DIR). The embedded driver's job
 * store is copied as of one commit (every job acknowledged before the copy began is in it), then
 * the outputs. With the redis driver the jobs live in Redis: take its snapshot with
 * `redis-cli --rdb` (docs/operations/backup-restore.md); this copies the outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EMBEDDED_STORE_FILE } from '../config/app-config';
import { ConfigError, loadConfig } from '../config/config.schema';
import {
  type BackupManifest,
  copyOutputs,
  MANIFEST,
  OUTPUTS,
  snapshotStore,
  writeFileDurably,
} from './backup-files';

function main(argv: string[]): number {
  const [dir] = argv;
  if (!dir) {
    process.stderr.write('usage: node dist/apps/api/ops/backup.js <directory>\n');
    return 2;
  }
  const config = loadConfig(process.env);
  if (fs.existsSync(path.join(dir, MANIFEST))) {
    process.stderr.write(`${dir} already holds a backup; give a new directory\n`);
    return 1;
  }
  fs.mkdirSync(dir, { recursive: true });
  const started = Date.now();
  // The store first: every job it holds as completed has its files in place by then.
  const store =
    config.queue === 'embedded'
      ? snapshotStore(path.join(config.dataDir, EMBEDDED_STORE_FILE), path.join(dir, EMBEDDED_STORE_FILE))
      : null;
  const outputs = copyOutputs(config.storageDir, path.join(dir, OUTPUTS));
  const manifest: BackupManifest = {
    format: 1,
    created_at: new Date(started).toISOString(),
    queue: config.queue,
    store,
    outputs,
  };
  writeFileDurably(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
  const jobs = store ? `${store.jobs} jobs (${JSON.stringify(store.by_status)}), ` : '';
  process.stdout.write(
    `backed up ${jobs}${outputs.files} files (${outputs.bytes} bytes) to ${dir} in ${Date.now() - started} ms\n`,
  );
  if (config.queue === 'redis')
    process.stdout.write('the jobs are in Redis: take its snapshot with `redis-cli --rdb <file>`\n');
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`backup failed: ${err instanceof ConfigError ? err.message : (err as Error).stack}\n`);
  process.exitCode = 1;
}
