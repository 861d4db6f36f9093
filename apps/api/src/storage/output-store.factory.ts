import type { AppConfig } from '../config/app-config';
import { FilesystemOutputs } from './filesystem/filesystem-outputs';
import type { OutputStore } from './output-store';
import { S3Outputs } from './s3/s3-outputs';
import type { StorageService } from './storage.service';

/**
 * The one place that picks where outputs live from the configuration (`T2V_STORAGE_URL`), as
 * queue/queue-driver.factory.ts does for the queue.
 */
export function createOutputStore(config: Pick<AppConfig, 'storage'>, local: StorageService): OutputStore {
  switch (config.storage.kind) {
    case 's3':
      return new S3Outputs(config.storage, local);
    case 'filesystem':
      return new FilesystemOutputs(local);
  }
}
