import { Module } from '@nestjs/common';

import { JobsModule } from '../jobs/jobs.module';
import { ModelsModule } from '../models/models.module';
import { StorageModule } from '../storage/storage.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { CreateAndWait } from './create-and-wait';
import { VideoPresenter } from './video-presenter';
import { VideoRequests } from './video-requests';
import { VideosController } from './videos.controller';

/** The public video routes (/v1/videos); exports the create-and-wait the compatibility route uses. */
@Module({
  imports: [JobsModule, ModelsModule, StorageModule, WebhooksModule],
  controllers: [VideosController],
  providers: [VideoRequests, VideoPresenter, CreateAndWait],
  exports: [VideoRequests, VideoPresenter, CreateAndWait],
})
export class VideosModule {}
