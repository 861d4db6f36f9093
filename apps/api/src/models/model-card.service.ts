import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';

import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ConfigError } from '../config/config.schema';
import type { PublishedCard } from '../jobs/gpu-registry';
import { QUEUE_DRIVER, type QueueDriver } from '../jobs/queue-driver';
import { configuredCard } from './configured-card';
import { describeModel, type ModelDescriptor } from './model-description';

/** How often the last published card is read again (cards are also announced as they are published). */
const REFRESH_MS = 5000;

/**
 * The model card this API serves and validates against: the last one a worker published (its own
 * workers', or a GPU tier's through the shared store), else the configured engine's card
 * (`configuredCard`), said so in `/v1/models` (`card.source: configured`). Emits `changed` with
 * the new descriptor whenever a different card is adopted.
 */
@Injectable()
export class ModelCardService extends EventEmitter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('model-card');
  private current: ModelDescriptor;
  private adopted: PublishedCard | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(QUEUE_DRIVER) private readonly driver: Pick<QueueDriver, 'registry' | 'whenOpen'>,
  ) {
    super();
    const configured: PublishedCard = {
      card: configuredCard(config),
      publishedAt: Date.now(),
      publishedBy: `${hostname()}:${process.pid} (configured)`,
    };
    this.checkAliases(configured);
    this.current = describeModel(configured, 'configured', config);
    driver.registry.onCard((card) => this.adopt(card));
  }

  /** What `/v1/models` serves and creates are checked against, now. */
  get model(): ModelDescriptor {
    return this.current;
  }

  onApplicationBootstrap(): void {
    // Once the driver is open: before, its connection is not there to read (nor to report a bad setting).
    void this.driver.whenOpen().then(async () => {
      await this.refresh();
      if (this.stopped) return;
      this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
      this.timer.unref();
    });
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    try {
      const last = await this.driver.registry.lastCard();
      if (last) this.adopt(last);
    } catch {
      /* the store is unreachable: keep the card we have; /readyz says why */
    }
  }

  /** A card published later than the one served replaces it (the same card again changes nothing). */
  private adopt(published: PublishedCard): void {
    const before = this.adopted;
    if (before && published.publishedAt < before.publishedAt) return;
    this.adopted = published;
    this.current = describeModel(published, 'worker', this.config);
    if (before && JSON.stringify(before.card) === JSON.stringify(published.card)) return;
    this.logger.log(`serving the model card of ${published.card.id} published by ${published.publishedBy}`);
    this.emit('changed', this.current);
  }

  /** An alias that names a model id must name the one the configured engine serves. */
  private checkAliases(configured: PublishedCard): void {
    const wrong = this.config.modelAliases.filter(
      (a) => a.target !== null && a.target !== configured.card.id,
    );
    if (wrong.length > 0) {
      throw new ConfigError(
        `invalid configuration:\n  T2V_MODEL_ALIASES: ${wrong
          .map(
            (a) =>
              `'${a.name}=${a.target}': the loaded model is ${configured.card.id} (T2V_ENGINE=${this.config.engine})`,
          )
          .join('; ')}`,
      );
    }
  }
}
