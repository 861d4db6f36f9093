import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';

import { ApiKeyGuard } from './common/api-key.guard';
import { ApiExceptionFilter } from './common/http-exception.filter';
import { RateLimitGuard } from './common/rate-limit.guard';
import { CompatModule } from './compat/compat.module';
import { APP_CONFIG, type AppConfig } from './config/app-config';
import { HealthModule } from './health/health.module';
import { JobsModule } from './jobs/jobs.module';
import { QUEUE_DRIVER, type QueueDriver } from './jobs/queue-driver';
import { MetricsModule } from './metrics/metrics.module';
import { ModelsModule } from './models/models.module';
import { QueueDriverModule } from './queue/queue-driver.module';
import { UsageModule } from './usage/usage.module';
import { VideosModule } from './videos/videos.module';
import { StorageModule } from './storage/storage.module';
import { DEFAULT_WEB_ROOT, WebModule } from './web/web.module';
import { WebhooksModule } from './webhooks/webhooks.module';

/** The configuration, to every module. */
@Module({})
class ConfigModule {
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      global: true,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}

/**
 * The whole app for one validated configuration (read once in main.ts): the feature modules, and
 * what applies to every route (the error filter, auth, rate limits). docs/architecture/10-api.md
 * maps the modules. The GPU tier (`T2V_ROLE=gpu`) runs workers and serves health, readiness and
 * metrics only: no video, model or playground route, no webhook delivery.
 */
@Module({})
export class AppModule {
  static forConfig(config: AppConfig): DynamicModule {
    const rateLimited = config.rateLimitPerMin > 0;
    const serves = config.role !== 'gpu';
    return {
      module: AppModule,
      imports: [
        ConfigModule.forConfig(config),
        MetricsModule,
        QueueDriverModule.forConfig(config),
        // Routes are documented in this order (the OpenAPI spec follows it).
        ...(serves ? [VideosModule, ModelsModule, CompatModule, UsageModule] : []),
        HealthModule,
        PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true } }),
        JobsModule,
        ...(serves ? [WebhooksModule, WebModule.serve(DEFAULT_WEB_ROOT, [StorageModule])] : []),
        ...(rateLimited
          ? [
              ThrottlerModule.forRootAsync({
                inject: [QUEUE_DRIVER],
                // With several replicas the driver keeps the counters shared, so a limit is global.
                useFactory: (driver: QueueDriver) => ({
                  throttlers: [{ name: 'default', ttl: 60_000, limit: config.rateLimitPerMin }],
                  storage: driver.throttlerStorage(),
                }),
              }),
            ]
          : []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        // After the key guard, which names the principal the limit applies to.
        ...(rateLimited ? [{ provide: APP_GUARD, useClass: RateLimitGuard }] : []),
      ],
    };
  }
}
