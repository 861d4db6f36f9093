import { createHash, timingSafeEqual } from 'node:crypto';

import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ApiError } from './api-error';
import { type HttpRequest, requestPath } from './http';

/** Routes that stay open whatever the auth settings: probes, metrics, docs. */
export const OPEN_PATHS = [
  /^\/healthz$/,
  /^\/readyz$/,
  /^\/ready$/,
  /^\/metrics$/,
  /^\/docs(\/|$|-json)/,
  /^\/openapi\.json$/,
];

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Who made the request, for rate limits and logs; set by ApiKeyGuard. */
export type AuthenticatedRequest = HttpRequest & { principal?: string };

/**
 * When keys are configured (`T2V_API_KEYS` and/or `T2V_API_KEYS_FILE`: plain keys or `sha256:<hex>`
 * digests) or OIDC JWT validation is (`T2V_JWT_*`), every route but health, metrics and docs needs
 * `Authorization: Bearer <key or token>`. Key digests are compared in constant time; tokens are
 * checked against the issuer's JWKS with issuer and audience, must be signed with one of the
 * configured algorithms (`T2V_JWT_ALGORITHMS`, public-key algorithms only) and must name their
 * subject: `sub` is the principal rate limits count, so tokens without one are refused rather
 * than sharing one bucket.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly digests: Buffer[];
  private readonly jwks: JWTVerifyGetKey | null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.digests = config.apiKeys.map((k) =>
      k.startsWith('sha256:') ? Buffer.from(k.slice(7), 'hex') : digest(k),
    );
    this.jwks = config.jwt
      ? createRemoteJWKSet(new URL(config.jwt.jwksUrl), { timeoutDuration: 5000 })
      : null;
  }

  /**
   * Synchronous unless a token has to be checked against the JWKS: with auth off, or a key that
   * matches, no promise is made (this guard runs on every request). With auth off the principal is
   * left unset and the rate limiter falls back to the client address, read only when it needs it.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.digests.length === 0 && !this.jwks) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (OPEN_PATHS.some((re) => re.test(requestPath(req)))) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw this.unauthorized('Missing API key: send Authorization: Bearer <key>.');
    const presented = m[1]!.trim();
    const presentedDigest = digest(presented);
    let matched: Buffer | null = null;
    for (const d of this.digests) {
      // Every digest is compared, so the time taken does not tell which one matched.
      if (d.length === presentedDigest.length && timingSafeEqual(d, presentedDigest)) matched = d;
    }
    if (matched) {
      req.principal = `key:${matched.toString('hex').slice(0, 16)}`;
      return true;
    }
    if (this.jwks && presented.split('.').length === 3) return this.verifyToken(req, presented);
    throw this.unauthorized('Invalid API key.');
  }

  private async verifyToken(req: AuthenticatedRequest, presented: string): Promise<boolean> {
    try {
      const { payload } = await jwtVerify(presented, this.jwks!, {
        issuer: this.config.jwt!.issuer,
        audience: this.config.jwt!.audience,
        algorithms: this.config.jwt!.algorithms,
        requiredClaims: ['sub'],
      });
      if (typeof payload.sub !== 'string' || payload.sub === '')
        throw this.unauthorized('Invalid token (the "sub" claim must name the subject).');
      req.principal = `sub:${payload.sub}`;
      return true;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw this.unauthorized(`Invalid token (${tokenProblem(err)}).`);
    }
  }

  private unauthorized(message: string): ApiError {
    return new ApiError(401, 'authentication_error', 'invalid_api_key', message, null, {
      'WWW-Authenticate': 'Bearer',
    });
  }
}

/** What was wrong with a token: jose's code, with the claim or header it names when it names one. */
function tokenProblem(err: unknown): string {
  if (!(err instanceof joseErrors.JOSEError)) return 'verification failed';
  if (err instanceof joseErrors.JWTClaimValidationFailed || err instanceof joseErrors.JOSEAlgNotAllowed)
    return `${err.code}: ${err.message}`;
  return err.code;
}
