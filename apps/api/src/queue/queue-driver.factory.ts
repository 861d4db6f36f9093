import { type AppConfig, EMBEDDED_STORE_FILE } from '../config/app-config';
import { fairPolicyOf } from '../jobs/fair-queue';
import type { QueueDriver } from '../jobs/queue-driver';
import { EmbeddedDriver } from './embedded/embedded-driver';
import { RedisDriver } from './redis/redis-driver';

/**
 * The one place that picks a queue driver from the configuration. Lint allows the driver
 * folders to be imported from here (and from tests) only.
 */
export function createQueueDriver(config: AppConfig): QueueDriver {
  switch (config.queue) {
    case 'redis':
      return new RedisDriver(config);
    case 'embedded':
      return new EmbeddedDriver(
        `${config.dataDir}/${EMBEDDED_STORE_FILE}`,
        config.maxQueue,
        fairPolicyOf(config),
      );
  }
}
