import { createHash, timingSafeEqual } from 'node:crypto';

import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ApiError } from './api-error';

const OPEN_PATHS = [
  /^\/healthz$/,
  /^\/readyz$/,
  /^\/ready$/,
  /^\/metrics$/,
  /^\/docs(\/|$|-json)/,
  /^\/openapi\.json$/,
];

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * When keys are configured (`T2V_API_KEYS`: plain keys or `sha256:<hex>` digests), every route but
 * health, metrics and docs needs `Authorization: Bearer <key>`. Digests are compared in constant time.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly digests: Buffer[];

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.digests = config.apiKeys.map((k) =>
      k.startsWith('sha256:') ? Buffer.from(k.slice(7), 'hex') : digest(k),
    );
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.digests.length === 0) return true;
    const req = context.switchToHttp().getRequest<Request>();
    if (OPEN_PATHS.some((re) => re.test(req.path))) return true;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m) {
      const presented = digest(m[1]!.trim());
      let ok = false;
      for (const d of this.digests)
        ok = (d.length === presented.length && timingSafeEqual(d, presented)) || ok;
      if (ok) return true;
    }
    throw new ApiError(
      401,
      'authentication_error',
      'invalid_api_key',
      m ? 'Invalid API key.' : 'Missing API key: send Authorization: Bearer <key>.',
    );
  }
}
