import { Module } from '@nestjs/common';

import { StorageModule } from '../storage/storage.module';
import { VideosModule } from '../videos/videos.module';
import { GenerateController } from './generate.controller';

/** GET /generate, the original service's blocking endpoint, on top of the videos module. */
@Module({ imports: [VideosModule, StorageModule], controllers: [GenerateController] })
export class CompatModule {}
