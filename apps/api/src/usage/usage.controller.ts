import { Controller, Get, Inject, Query, Req } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';

import { ApiError } from '../common/api-error';
import { ADMIN_SCOPE, type AuthenticatedRequest } from '../common/api-key.guard';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { JobsService } from '../jobs/jobs.service';
import type { UsageGroup } from '../jobs/usage';
import { zodToApiError } from '../videos/create-video.schema';
import { errorResponses, ref } from '../wire/openapi-refs';
import type { UsageReport } from '../wire/usage.schema';

const DAY_MS = 86_400_000;
const GROUPS = ['caller', 'model', 'day'] as const;

/** An instant: ISO 8601 (a date is its UTC midnight) or unix seconds. */
const instant = z
  .string()
  .transform((v, ctx) => {
    const ms = /^\d{1,12}$/.test(v) ? Number(v) * 1000 : Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'expected an ISO 8601 date or time, or unix seconds' });
      return z.NEVER;
    }
    return ms;
  })
  .optional();

const usageQuerySchema = z.strictObject({
  start: instant,
  end: instant,
  group_by: z
    .string()
    .transform((v, ctx) => {
      const groups = v === '' ? [] : v.split(',').map((g) => g.trim());
      const bad = groups.find((g) => !(GROUPS as readonly string[]).includes(g));
      if (bad !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${bad}" is not a grouping (accepted: ${GROUPS.join(', ')})`,
        });
        return z.NEVER;
      }
      return [...new Set(groups)] as UsageGroup[];
    })
    .optional(),
});

/**
 * /v1/usage: what each caller used (jobs by outcome, output seconds and frames, GPU-seconds), as
 * recorded durably when each job ended. Needs a key or token with the `admin` scope whenever
 * authentication is on.
 */
@ApiTags('usage')
@Controller('v1/usage')
export class UsageController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'apiKeys' | 'jwt'>,
    private readonly jobs: JobsService,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Usage by caller, model and day',
    description:
      'Jobs that ended in [start, end), summed by `group_by`. Needs the `admin` scope (an API key entry with ' +
      '`scopes=admin`, or a token whose `scope` claim holds `admin`) when authentication is on.',
  })
  @ApiQuery({
    name: 'start',
    required: false,
    type: String,
    description: 'ISO 8601 or unix seconds; default end − 30 days',
  })
  @ApiQuery({
    name: 'end',
    required: false,
    type: String,
    description: 'ISO 8601 or unix seconds, exclusive; default now',
  })
  @ApiQuery({
    name: 'group_by',
    required: false,
    type: String,
    description: 'Comma-separated: caller, model, day. Default: caller,model',
  })
  @ApiResponse({ status: 200, schema: ref('UsageReport') })
  @errorResponses(400, 401, 403)
  async usage(
    @Req() req: AuthenticatedRequest,
    @Query() query: Record<string, unknown>,
  ): Promise<UsageReport> {
    const authOn = this.config.apiKeys.length > 0 || this.config.jwt !== null;
    if (authOn && !(req.scopes ?? []).includes(ADMIN_SCOPE)) {
      throw new ApiError(
        403,
        'permission_error',
        'insufficient_scope',
        'Reading usage needs an API key or token with the admin scope.',
      );
    }
    const parsed = usageQuerySchema.safeParse(query);
    if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(usageQuerySchema.shape), query);
    const end = parsed.data.end ?? Date.now();
    const start = parsed.data.start ?? end - 30 * DAY_MS;
    if (start >= end) throw ApiError.badRequest('start', 'start must be before end.');
    const groupBy = parsed.data.group_by ?? ['caller', 'model'];
    const { rows, total } = await this.jobs.usage(start, end, groupBy);
    return {
      object: 'usage',
      start: new Date(start).toISOString(),
      end: new Date(end).toISOString(),
      group_by: groupBy,
      data: rows,
      total,
    };
  }
}
