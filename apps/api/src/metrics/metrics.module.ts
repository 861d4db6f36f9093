import { Global, Module } from '@nestjs/common';

import { metricProviders } from './metrics';

/** Every metric the API exports, injectable anywhere (`@InjectMetric(METRIC.…)`). */
@Global()
@Module({ providers: [...metricProviders], exports: [...metricProviders] })
export class MetricsModule {}
