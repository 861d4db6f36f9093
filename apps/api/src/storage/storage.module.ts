import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { createOutputStore } from './output-store.factory';
import { OUTPUT_STORE, type OutputStore } from './output-store';
import { StorageService } from './storage.service';

/**
 * The local output directory (StorageService: where workers write; scratch with a bucket) and the
 * configured output store (OUTPUT_STORE), checked before the app serves: a bucket that cannot be
 * reached, does not exist or refuses the credentials stops the boot.
 */
@Module({
  providers: [
    StorageService,
    {
      provide: OUTPUT_STORE,
      inject: [APP_CONFIG, StorageService],
      useFactory: async (config: AppConfig, local: StorageService): Promise<OutputStore> => {
        const store = createOutputStore(config, local);
        await store.open();
        return store;
      },
    },
  ],
  exports: [StorageService, OUTPUT_STORE],
})
export class StorageModule implements OnApplicationShutdown {
  constructor(@Inject(OUTPUT_STORE) private readonly outputs: OutputStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.outputs.close();
  }
}
