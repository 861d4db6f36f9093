import { Module } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { JobsModule } from '../jobs/jobs.module';
import { WEBHOOK_OPTIONS, WebhookDeliveryService, type WebhookOptions } from './webhook-delivery.service';
import { WebhookPolicy } from './webhook-policy';

/** Outbound webhooks: the policy for `webhook_url`, and delivery from the job outbox. */
@Module({
  imports: [JobsModule],
  providers: [
    {
      provide: WEBHOOK_OPTIONS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): WebhookOptions => ({
        secret: config.webhookSecret,
        allowPrivate: config.webhookAllowPrivate,
        maxAttempts: config.webhookMaxAttempts,
        backoffMs: 1000,
        timeoutMs: 10_000,
        pollMs: 1000,
      }),
    },
    WebhookPolicy,
    WebhookDeliveryService,
  ],
  exports: [WebhookPolicy],
})
export class WebhooksModule {}
