import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { ModelObject } from '../wire/model.schema';
import { type ModelDescriptor, modelFor } from '../presets/model-presets';

/** The model this deployment serves (one per deployment), its presets and its aliases. */
@Injectable()
export class ModelsService {
  readonly model: ModelDescriptor;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.model = modelFor(config);
  }

  /**
   * The public model object (its schema, `wire/model.schema.ts`, also documents the spec), under
   * its id or under one of its aliases (then `alias_for` names the model).
   */
  toObject(name: string = this.model.id): ModelObject {
    const m = this.model;
    return {
      id: name,
      object: 'model',
      created: m.created,
      owned_by: m.owned_by,
      engine: m.engine,
      description: m.description,
      alias_for: name === m.id ? null : m.id,
      aliases: m.aliases,
      presets: m.presets,
      acceleration: m.acceleration,
      profile: m.profile,
      inputs: m.inputs,
      loras: m.loras,
    };
  }

  /** The model first, then one entry per alias. */
  list() {
    return [this.model.id, ...this.model.aliases].map((name) => this.toObject(name));
  }

  has(name: string): boolean {
    return name === this.model.id || this.model.aliases.includes(name);
  }
}
