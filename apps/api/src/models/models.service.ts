import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { type ModelDescriptor, modelFor } from './model-presets';

/** The model this deployment serves (one per deployment) and its presets. */
@Injectable()
export class ModelsService {
  readonly model: ModelDescriptor;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.model = modelFor(config);
  }

  toObject() {
    const m = this.model;
    return {
      id: m.id,
      object: 'model' as const,
      created: m.created,
      owned_by: m.owned_by,
      engine: m.engine,
      description: m.description,
      presets: m.presets,
      acceleration: m.acceleration,
      profile: m.profile,
    };
  }
}
