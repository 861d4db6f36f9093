/**
 * `node dist/apps/api/ops/restore.js <backup directory>`: restores a backup made by backup.js
 * into a fresh instance, with the environment the API will run with (T2V_QUEUE, T2V_DATA_DIR,
 * T2V_STORAGE_DIR), before that API starts. It refuses a data directory that already holds a job
 * store. Jobs that were running when the backup was taken run again when the API starts. With the
 * redis driver, restore Redis from its snapshot first (docs/operations/backup-restore.md); this
 * restores the outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EMBEDDED_STORE_FILE } from '../config/app-config';
import { ConfigError, loadConfig } from '../config/config.schema';
import { copyOutputs, OUTPUTS, readManifest } from './backup-files';

function main(argv: string[]): number {
  const [dir] = argv;
  if (!dir) {
    process.stderr.write('usage: node dist/apps/api/ops/restore.js <backup directory>\n');
    return 2;
  }
  const manifest = readManifest(dir);
  const config = loadConfig(process.env);
  if (manifest.queue !== config.queue) {
    process.stderr.write(
      `${dir} is a backup of a ${manifest.queue} deployment; this one has T2V_QUEUE=${config.queue}\n`,
    );
    return 1;
  }
  if (manifest.store) {
    const target = path.join(config.dataDir, EMBEDDED_STORE_FILE);
    const present = [target, `${target}-wal`, `${target}-shm`].filter((f) => fs.existsSync(f));
    if (present.length > 0) {
      process.stderr.write(
        `T2V_DATA_DIR already holds a job store (${present.join(', ')}): restore into a fresh ` +
          'instance, or stop the API and move those files away first\n',
      );
      return 1;
    }
    fs.mkdirSync(config.dataDir, { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    fs.copyFileSync(path.join(dir, manifest.store.file), tmp);
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, target);
  }
  const outputs = copyOutputs(path.join(dir, OUTPUTS), config.storageDir);
  const jobs = manifest.store ? `${manifest.store.jobs} jobs and ` : '';
  process.stdout.write(`restored ${jobs}${outputs.files} files from ${dir} (taken ${manifest.created_at})\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(
    `restore failed: ${err instanceof ConfigError ? err.message : (err as Error).stack}\n`,
  );
  process.exitCode = 1;
}
