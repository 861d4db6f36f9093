import { Module } from '@nestjs/common';

import { ModelCardService } from './model-card.service';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

/** The model this deployment serves: its card (validation uses it) and GET /v1/models. */
@Module({
  controllers: [ModelsController],
  providers: [ModelCardService, ModelsService],
  exports: [ModelsService, ModelCardService],
})
export class ModelsModule {}
