import { Module } from '@nestjs/common';

import { JobsModule } from '../jobs/jobs.module';
import { UsageController } from './usage.controller';

/** GET /v1/usage (docs/waiting.md). */
@Module({ imports: [JobsModule], controllers: [UsageController] })
export class UsageModule {}
