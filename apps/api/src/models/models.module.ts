import { Module } from '@nestjs/common';

import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

/** The model this deployment serves: its presets (validation uses them) and GET /v1/models. */
@Module({ controllers: [ModelsController], providers: [ModelsService], exports: [ModelsService] })
export class ModelsModule {}
