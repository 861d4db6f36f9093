import { type DynamicModule, Module } from '@nestjs/common';

import type { AppConfig } from '../config/app-config';
import { JobsModule } from '../jobs/jobs.module';
import { WEBHOOK_OPTIONS, WebhookDeliveryService, type WebhookOptions } from './webhook-delivery.service';
import { WebhookPolicy } from './webhook-policy';

/** Outbound webhooks: the policy for `webhook_url`, and delivery from the job outbox. */
@Module({})
export class WebhooksModule {
  static forConfig(config: AppConfig): DynamicModule {
    const options: WebhookOptions = {
      secret: config.webhookSecret,
      allowPrivate: config.webhookAllowPrivate,
      maxAttempts: config.webhookMaxAttempts,
      backoffMs: 1000,
      timeoutMs: 10_000,
      pollMs: 1000,
    };
    return {
      module: WebhooksModule,
      imports: [JobsModule],
      providers: [{ provide: WEBHOOK_OPTIONS, useValue: options }, WebhookPolicy, WebhookDeliveryService],
      exports: [WebhookPolicy],
    };
  }
}
