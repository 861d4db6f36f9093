import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';

import { ApiError } from './api-error';
import { type AuthenticatedRequest, OPEN_PATHS } from './api-key.guard';
import { MAX_USER } from './request-limits';
import { requestPath } from './http';

/**
 * Per-principal limits: each API key (or token subject; else the request's `user`; else the client
 * address) has its own window, so one client's burst never throttles another. Runs after
 * ApiKeyGuard. `user` is self-declared: it shares out a gateway's traffic fairly, but only keys
 * enforce a limit on a client that does not cooperate (docs/adr/0009).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    return OPEN_PATHS.some((re) => re.test(requestPath(req)));
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    const principal = (req as unknown as AuthenticatedRequest).principal;
    if (principal) return principal;
    const user = declaredUser(req['body']) ?? declaredUser(req['query']);
    return user ? `user:${user}` : `ip:${String(req['ip'])}`;
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

/** A well-formed `user` field of a create (JSON or form body, or /generate's query); else null. */
function declaredUser(fields: unknown): string | null {
  if (fields === null || typeof fields !== 'object') return null;
  const user = (fields as Record<string, unknown>)['user'];
  return typeof user === 'string' && user.length > 0 && user.length <= MAX_USER ? user : null;
}
