import { Injectable } from '@nestjs/common';

import type { ModelObject } from '../wire/model.schema';
import { ModelCardService } from './model-card.service';
import type { ModelDescriptor } from './model-description';

/** The model this deployment serves (one per deployment), from its card, and its aliases. */
@Injectable()
export class ModelsService {
  constructor(private readonly cards: ModelCardService) {}

  /** The model as served now: the last card a worker published (or the configured one). */
  get model(): ModelDescriptor {
    return this.cards.model;
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
      card: {
        source: m.card.source,
        published_at: m.card.publishedAt === null ? null : Math.floor(m.card.publishedAt / 1000),
        published_by: m.card.publishedBy,
      },
    };
  }

  /** The model first, then one entry per alias. */
  list() {
    const m = this.model;
    return [m.id, ...m.aliases].map((name) => this.toObject(name));
  }

  has(name: string): boolean {
    const m = this.model;
    return name === m.id || m.aliases.includes(name);
  }
}
