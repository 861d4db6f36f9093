import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import {
  type DynamicModule,
  Inject,
  Logger,
  type MiddlewareConsumer,
  Module,
  type NestModule,
} from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Where `nx run web:build` writes the playground: apps/web/dist, found from this file both in the
 * repository (dist/apps/api/web/) and in the image, which keeps the repository layout under /app.
 */
export const DEFAULT_WEB_ROOT = resolve(__dirname, '../../../../apps/web/dist');

const WEB_ROOT = Symbol('WEB_ROOT');

/**
 * The page's own policy: everything from this origin, media and thumbnails also from `blob:` (how
 * the page plays videos when the server needs an API key). Nothing external can load, which is
 * also what keeps the page working in an offline cluster.
 */
export const PLAYGROUND_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

/**
 * Serves the playground's static build: `GET /` is its index.html, `/assets/*` its hashed
 * bundles (cached for a year), plus the few top-level files of the build (favicon). Every other
 * path falls through to the API untouched, without a filesystem lookup.
 *
 * It runs as middleware, before guards: the page holds no data and must load before the user has
 * typed an API key; every call it makes then goes through the API's guard like any other client's.
 */
export function createWebMiddleware(root: string, logger?: Pick<Logger, 'warn'>): RequestHandler {
  const index = join(root, 'index.html');
  if (!existsSync(index)) {
    logger?.warn(`playground not built (${index} is missing): run \`npx nx run web:build\``);
    return (req: Request, res: Response, next: NextFunction) => {
      const path = new URL(req.originalUrl, 'http://localhost').pathname;
      if ((req.method !== 'GET' && req.method !== 'HEAD') || path !== '/') return next();
      res
        .status(404)
        .type('text/plain')
        .send(
          'The playground is not built: run `npx nx run web:build`. The API is at /v1, its reference at /docs.\n',
        );
    };
  }
  const topLevel = new Set(
    readdirSync(root).filter((name) => name !== 'index.html' && statSync(join(root, name)).isFile()),
  );
  const send = (res: Response, next: NextFunction, file: string, headers: Record<string, string>) =>
    res.sendFile(
      file,
      { root, dotfiles: 'deny', headers: { 'x-content-type-options': 'nosniff', ...headers } },
      (err?: Error & { status?: number }) => {
        if (!err) return;
        // A missing asset is the API's 404 (its JSON envelope); anything else is a real error.
        if (err.status === 404 || (err as { code?: string }).code === 'ENOENT')
          return res.headersSent ? undefined : next();
        next(err);
      },
    );
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    // Nest mounts middleware on a wildcard, which empties req.path: read the original address.
    const path = new URL(req.originalUrl, 'http://localhost').pathname;
    if (path === '/' || path === '/index.html') {
      return send(res, next, 'index.html', {
        'content-security-policy': PLAYGROUND_CSP,
        'cache-control': 'no-cache',
        'referrer-policy': 'same-origin',
      });
    }
    if (path.startsWith('/assets/'))
      return send(res, next, path.slice(1), { 'cache-control': 'public, max-age=31536000, immutable' });
    if (topLevel.has(path.slice(1))) return send(res, next, path.slice(1), { 'cache-control': 'no-cache' });
    next();
  };
}

/**
 * The playground (apps/web) served by the API at `/`; decisions in docs/adr/0050. Import it as
 * `WebModule.serve()`; tests pass another build directory.
 */
@Module({})
export class WebModule implements NestModule {
  constructor(@Inject(WEB_ROOT) private readonly root: string) {}

  static serve(root: string = DEFAULT_WEB_ROOT): DynamicModule {
    return { module: WebModule, providers: [{ provide: WEB_ROOT, useValue: root }] };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(createWebMiddleware(this.root, new Logger('WebModule'))).forRoutes('{*splat}');
  }
}
