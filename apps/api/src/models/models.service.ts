import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { ModelObject } from '../wire/model.schema';
import { type ModelDescriptor, modelFor } from './model-presets';

/** The model this deployment serves (one per deployment) and its presets. */
@Injectable()
export class ModelsService {
  readonly model: ModelDescriptor;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.model = modelFor(config);
  }

  /** The public model object (its schema, `wire/model.schema.ts`, also documents the spec). */
  toObject(): ModelObject {
    const m = this.model;
    return {
      id: m.id,
      object: 'model',
      created: m.created,
      owned_by: m.owned_by,
      engine: m.engine,
      description: m.description,
      presets: m.presets,
    };
  }
}
