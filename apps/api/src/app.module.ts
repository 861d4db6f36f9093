import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';

import { ApiKeyGuard } from './common/api-key.guard';
import { RateLimitGuard } from './common/rate-limit.guard';
import { RedisThrottlerStorage } from './common/redis-throttler.storage';
import { ThrottlerModule } from '@nestjs/throttler';
import { ApiExceptionFilter } from './common/http-exception.filter';
import { GenerateController } from './compat/generate.controller';
import { APP_CONFIG, type AppConfig } from './config/app-config';
import { HealthController } from './health/health.controller';
import { JobEvents } from './jobs/job-events';
import { JOB_STORE, type JobStore } from './jobs/job-store';
import { JobsService } from './jobs/jobs.service';
import { JOB_DISPATCH, RedisDispatcher } from './jobs/redis/redis-dispatcher';
import { RedisJobStore } from './jobs/redis/redis-job-store';
import { SchedulerService } from './jobs/scheduler.service';
import { SqliteJobStore } from './jobs/sqlite-job-store';
import { metricProviders } from './metrics/metrics';
import { WorkerMetricsService } from './metrics/worker-metrics.service';
import { ModelsController } from './models/models.controller';
import { ModelsService } from './models/models.service';
import { StorageService } from './storage/storage.service';
import { VideosController } from './videos/videos.controller';
import { WEBHOOK_OPTIONS, WebhookService } from './webhooks/webhook.service';
import { WebModule } from './web/web.module';
import { VideosService } from './videos/videos.service';
import { WorkerPoolService } from './worker-pool/worker-pool.service';

@Module({})
export class AppModule {
  /** The whole app for one validated configuration (read once in main.ts). */
  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TerminusModule.forRoot({ errorLogStyle: 'json', logger: false }),
        PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true } }),
        WebModule.serve(),
        ...(config.rateLimitPerMin > 0
          ? [
              ThrottlerModule.forRoot({
                throttlers: [{ name: 'default', ttl: 60_000, limit: config.rateLimitPerMin }],
                // With several replicas the counters live in Redis, so a client's limit is global.
                storage:
                  config.queue === 'redis'
                    ? new RedisThrottlerStorage(config.redisUrl!, config.redisPrefix)
                    : undefined,
              }),
            ]
          : []),
      ],
      controllers: [VideosController, ModelsController, GenerateController, HealthController],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: JOB_STORE, useFactory: () => jobStoreFor(config) },
        ...(config.queue === 'redis'
          ? [RedisDispatcher, { provide: JOB_DISPATCH, useExisting: RedisDispatcher }]
          : []),
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        // After the key guard, which names the principal the limit applies to.
        ...(config.rateLimitPerMin > 0 ? [{ provide: APP_GUARD, useClass: RateLimitGuard }] : []),
        ...metricProviders,
        JobEvents,
        StorageService,
        WorkerPoolService,
        SchedulerService,
        JobsService,
        ModelsService,
        VideosService,
        WorkerMetricsService,
        WebhookService,
        {
          provide: WEBHOOK_OPTIONS,
          useValue: {
            secret: config.webhookSecret,
            allowPrivate: config.webhookAllowPrivate,
            maxAttempts: config.webhookMaxAttempts,
            backoffMs: 1000,
            timeoutMs: 10_000,
          },
        },
      ],
    };
  }
}

/** The queue driver's store (DESIGN §3): one SQLite file, or records shared by replicas in Redis. */
function jobStoreFor(config: AppConfig): JobStore {
  if (config.queue === 'redis')
    return new RedisJobStore(config.redisUrl!, config.redisPrefix, config.maxQueue);
  return new SqliteJobStore(`${config.dataDir}/jobs.sqlite`, config.maxQueue);
}
