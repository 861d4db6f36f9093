import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';

import { ApiError } from './api-error';
import { type AuthenticatedRequest, OPEN_PATHS } from './api-key.guard';
import { requestPath } from './http';

/**
 * Per-principal limits: each API key (or token subject, or client address when auth is off) has
 * its own window, so one client's burst never throttles another. Runs after ApiKeyGuard.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    return OPEN_PATHS.some((re) => re.test(requestPath(req)));
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    return ((req as unknown as AuthenticatedRequest).principal ?? `ip:${String(req['ip'])}`) as string;
  }

  protected override async throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire || detail.timeToExpire);
    throw new ApiError(
      429,
      'rate_limit_error',
      'rate_limited',
      `Rate limit of ${detail.limit} requests per ${detail.ttl / 1000} s reached; retry in ${retryAfter} s.`,
      null,
      { 'Retry-After': String(retryAfter) },
    );
  }
}
