import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';

import { type DynamicModule, Inject, Logger, Module, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';

import { requestPath } from '../common/http';
import { OUTPUT_STORE, type OutputStore } from '../storage/output-store';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * Where `nx run web:build` writes the playground: apps/web/dist, found from this file both in the
 * repository (dist/apps/api/web/) and in the image, which keeps the repository layout under /app.
 */
export const DEFAULT_WEB_ROOT = resolve(__dirname, '../../../../apps/web/dist');

const WEB_ROOT = Symbol('WEB_ROOT');

/**
 * The page's own policy: everything from this origin, media and thumbnails also from `blob:` (how
 * the page plays videos when the server needs an API key) and from the bucket downloads are
 * redirected to, when there is one (`downloads`: its origin). Nothing else external can load,
 * which is also what keeps the page working in an offline cluster.
 */
export function playgroundCsp(downloads: string | null = null): string {
  const bucket = downloads ? ` ${downloads}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' blob: data:${bucket}`,
    `media-src 'self' blob:${bucket}`,
    `connect-src 'self'${bucket}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
  ].join('; ');
}

/** The policy with every file served by the API itself. */
export const PLAYGROUND_CSP = playgroundCsp();

/**
 * Serves the playground's static build: `GET /` is its index.html, `/assets/*` its hashed
 * bundles (cached for a year), plus the few top-level files of the build (favicon). Every other
 * path falls through to the API untouched, without a filesystem lookup.
 *
 * It is a request hook, ahead of routing and guards: the page holds no data and must load before
 * the user has typed an API key; every call it makes then goes through the API's guard like any
 * other client's.
 */
function createWebHook(root: string, csp: string, logger?: Pick<Logger, 'warn'>): onRequestHookHandler {
  const index = join(root, 'index.html');
  if (!existsSync(index)) {
    logger?.warn(`playground not built (${index} is missing): run \`npx nx run web:build\``);
    return (request, reply, done) => {
      if ((request.method !== 'GET' && request.method !== 'HEAD') || requestPath(request) !== '/')
        return done();
      void reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(
          'The playground is not built: run `npx nx run web:build`. The API is at /v1, its reference at /docs.\n',
        );
    };
  }
  const base = resolve(root) + sep;
  const topLevel = new Set(
    readdirSync(root).filter((name) => name !== 'index.html' && statSync(join(root, name)).isFile()),
  );
  const pageHeaders = {
    'content-security-policy': csp,
    'cache-control': 'no-cache',
    'referrer-policy': 'same-origin',
  };
  const assetHeaders = { 'cache-control': 'public, max-age=31536000, immutable' };
  const fileHeaders = { 'cache-control': 'no-cache' };
  // `done()` passes the request on to the API; answering it without `done()` ends it here.
  return (request, reply, done) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return done();
    const path = requestPath(request);
    const page = path === '/' || path === '/index.html';
    const headers = page
      ? pageHeaders
      : path.startsWith('/assets/')
        ? assetHeaders
        : topLevel.has(path.slice(1))
          ? fileHeaders
          : null;
    if (!headers) return done();
    let file: string;
    try {
      file = resolve(root, page ? 'index.html' : decodeURIComponent(path.slice(1)));
    } catch {
      return done();
    }
    // Only files inside the build, and no dotfiles: anything else is the API's 404.
    const inside =
      file.startsWith(base) &&
      !file
        .slice(base.length)
        .split(sep)
        .some((p) => p.startsWith('.'));
    if (!inside) return done();
    stat(file).then(
      (stats) => {
        if (!stats.isFile()) return done();
        reply.code(200).headers({
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'content-length': String(stats.size),
          'x-content-type-options': 'nosniff',
          ...headers,
        });
        void reply.send(request.method === 'HEAD' ? undefined : createReadStream(file));
      },
      () => done(),
    );
  };
}

/**
 * The playground (apps/web) served by the API at `/`; decisions in docs/adr/0050. Import it as
 * `WebModule.serve()`; tests pass another build directory.
 */
@Module({})
export class WebModule implements OnModuleInit {
  constructor(
    @Inject(WEB_ROOT) private readonly root: string,
    private readonly adapterHost: HttpAdapterHost,
    @Optional() @Inject(OUTPUT_STORE) private readonly outputs?: OutputStore,
  ) {}

  /** `imports`: where the output store comes from (StorageModule in the app; none in tests). */
  static serve(root: string = DEFAULT_WEB_ROOT, imports: DynamicModule['imports'] = []): DynamicModule {
    return { module: WebModule, imports, providers: [{ provide: WEB_ROOT, useValue: root }] };
  }

  async onModuleInit(): Promise<void> {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const csp = playgroundCsp((await this.outputs?.downloadOrigin()) ?? null);
    fastify.addHook('onRequest', createWebHook(this.root, csp, new Logger('WebModule')));
  }
}
