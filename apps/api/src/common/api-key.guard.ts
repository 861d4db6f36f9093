import { createHash, timingSafeEqual } from 'node:crypto';

import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';

import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { keyDigest, keyPrincipal } from '../jobs/fair-queue';
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

/**
 * Who made the request, for rate limits, fair turns, usage and logs, and what it may do (`admin`:
 * read usage); set by ApiKeyGuard.
 */
export type AuthenticatedRequest = HttpRequest & { principal?: string; scopes?: string[] };

/** The scope a key or token needs to read usage. */
export const ADMIN_SCOPE = 'admin';

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
  /** What each key (by its index in `digests`) names: its principal and scopes. */
  private readonly identities: Array<{ principal: string; scopes: string[] }>;
  private readonly jwks: JWTVerifyGetKey | null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.digests = config.apiKeys.map(keyDigest);
    this.identities = config.apiKeys.map((k, i) => ({
      principal: keyPrincipal(k, config.keyPolicies[i]?.name ?? null),
      scopes: config.keyPolicies[i]?.scopes ?? [],
    }));
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
    let matched = -1;
    this.digests.forEach((d, i) => {
      // Every digest is compared, so the time taken does not tell which one matched.
      if (d.length === presentedDigest.length && timingSafeEqual(d, presentedDigest)) matched = i;
    });
    if (matched >= 0) {
      req.principal = this.identities[matched]!.principal;
      req.scopes = this.identities[matched]!.scopes;
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
      // OAuth's space-separated `scope` (or `scp`, a list) may grant `admin`.
      const scope = payload['scope'] ?? payload['scp'];
      req.scopes = (Array.isArray(scope) ? scope : String(scope ?? '').split(' ')).filter(
        (x) => x === ADMIN_SCOPE,
      );
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
