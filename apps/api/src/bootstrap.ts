import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { getToken } from '@willsoto/nestjs-prometheus';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import helmet from 'helmet';
import type { Histogram } from 'prom-client';

import { AppModule } from './app.module';
import { ApiError } from './common/api-error';
import { requestPath, setRequestId } from './common/http';
import { type Log, NestLogger, rootLogger } from './logging/logger';
import { readMultipartBody } from './common/multipart';
import { payloadTooLarge, readText } from './common/request-body';
import type { AppConfig } from './config/app-config';
import { METRIC } from './metrics/metrics';
import { ModelsService } from './models/models.service';
import type { ModelDescriptor } from './models/model-description';
import { documentFor, routesDocument } from './openapi/openapi';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const UNLOGGED_ROUTES = new Set(['/metrics', '/healthz', '/readyz']);

/** Helmet's headers that protect any response, JSON and media included. */
const EVERY_RESPONSE = new Set([
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
  'cross-origin-resource-policy',
  'referrer-policy',
]);

/**
 * The security headers helmet sets, computed once: with these options none depends on the request,
 * so each response gets them from a list instead of running helmet's middleware chain per request.
 * Split in two (ADR 0006): what every response needs, and what only matters to a document a browser
 * renders (cross-origin isolation, legacy IE and Flash switches, DNS prefetch): the playground and
 * the API reference get both; JSON and media get the first, five headers instead of eleven.
 */
function securityHeaders(): { every: Array<[string, string]>; documents: Array<[string, string]> } {
  const headers = new Map<string, string>();
  const sink = {
    setHeader: (name: string, value: unknown) => void headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => void headers.delete(name.toLowerCase()),
    getHeader: (name: string) => headers.get(name.toLowerCase()),
  } as unknown as ServerResponse;
  helmet({
    // JSON and media need no CSP; the playground page sets its own strict one.
    contentSecurityPolicy: false,
    // Other origins may embed the MP4s and thumbnails (players, galleries).
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  })({} as never, sink, () => undefined);
  const all = [...headers];
  return { every: all.filter(([n]) => EVERY_RESPONSE.has(n)), documents: all };
}

/** Paths that serve HTML a browser renders: the playground and Swagger UI. */
function isDocument(url: string): boolean {
  return url === '/' || url.startsWith('/?') || url.startsWith('/index.html') || url.startsWith('/docs');
}

/** A request's id: its `x-request-id` when that is a sane token, else a new UUID. */
function requestIdFor(req: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Builds the app (not listening). Shared by main.ts, the spec export and the e2e tests. `log` is
 * Fastify's logger too: each request's `request.log` carries its `request_id`.
 */
export async function createApp(config: AppConfig, log: Log = rootLogger()): Promise<NestFastifyApplication> {
  const fastify = Fastify({
    loggerInstance: log,
    // One access line per request, ours (onResponse), instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: requestIdFor,
    bodyLimit: uploadBodyLimit(config),
    trustProxy: true,
    routerOptions: { ignoreTrailingSlash: true },
  });
  // Before the adapter exists, so these hooks run ahead of Nest middleware (the playground page).
  const metrics: { duration?: Histogram<string> } = {};
  addRequestHooks(fastify as unknown as FastifyInstance, metrics);
  registerBodyParsers(fastify as unknown as FastifyInstance, config);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forConfig(config),
    new FastifyAdapter(fastify as never),
    // A provider that refuses the configuration (a bucket that cannot be used) throws to main.ts, which
    // prints it and exits 78, instead of Nest exiting 1 on its own.
    { bodyParser: false, logger: new NestLogger(log), abortOnError: false },
  );
  metrics.duration = app.get<Histogram<string>>(getToken(METRIC.httpDuration));

  if (config.corsOrigins.length > 0) {
    app.enableCors({
      origin: config.corsOrigins.includes('*') ? true : config.corsOrigins,
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'prefer', 'x-request-id', 'range'],
      exposedHeaders: [
        'x-request-id',
        'openai-poll-after-ms',
        'retry-after',
        'location',
        'preference-applied',
        't2v-adjusted',
        'content-range',
      ],
      maxAge: 600,
    });
  }
  // The GPU tier serves health, readiness and metrics only.
  if (config.role !== 'gpu') serveApiReference(app);
  return app;
}

/**
 * Swagger UI and /openapi.json. The create request is described from the model card served now:
 * the document is rebuilt when a worker publishes another card.
 */
function serveApiReference(app: NestFastifyApplication): void {
  const models = app.get(ModelsService);
  const routes = routesDocument(app);
  let built: { model: ModelDescriptor; document: ReturnType<typeof documentFor> } | null = null;
  const current = () => {
    if (built?.model !== models.model)
      built = { model: models.model, document: documentFor(routes, models.model) };
    return built.document;
  };
  SwaggerModule.setup('docs', app, current(), {
    jsonDocumentUrl: 'openapi.json',
    customSiteTitle: 't2v API',
    swaggerOptions: { persistAuthorization: true },
    patchDocumentOnRequest: () => current(),
  });
}

/**
 * Per request: security headers and the request id (on the raw response, so pages served by
 * middleware carry them too), and on completion the duration histogram and one access-log line.
 */
function addRequestHooks(fastify: FastifyInstance, metrics: { duration?: Histogram<string> }): void {
  const security = securityHeaders();
  fastify.addHook('onRequest', (request, reply, done) => {
    const raw = reply.raw;
    for (const [name, value] of isDocument(request.url) ? security.documents : security.every)
      raw.setHeader(name, value);
    raw.setHeader('x-request-id', request.id);
    setRequestId(request.raw, request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const seconds = reply.elapsedTime / 1000;
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.duration?.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      seconds,
    );
    if (!UNLOGGED_ROUTES.has(route)) {
      request.log.info(
        {
          method: request.method,
          path: requestPath(request),
          status: reply.statusCode,
          ms: Math.round(seconds * 1000),
        },
        'request',
      );
    }
    done();
  });
}

/** Bytes of a JSON body without its `input_reference` (at most the whole body). */
function fieldBytes(text: string, value: unknown): number {
  const image =
    value !== null && typeof value === 'object'
      ? (value as Record<string, unknown>)['input_reference']
      : undefined;
  return Buffer.byteLength(text) - (image === undefined ? 0 : Buffer.byteLength(JSON.stringify(image)));
}

/** Routes whose body may carry an image (`input_reference`): they get the larger body limit. */
const IMAGE_ROUTES = new Set(['/v1/videos', '/v1/videos/sync']);

/**
 * The body limit of a create that carries an image: the fields' limit plus the image's, base64
 * encoded (a data: URL in JSON is 4/3 of the image), plus room for multipart part headers.
 */
export function uploadBodyLimit(config: Pick<AppConfig, 'maxBodyBytes' | 'maxImageBytes'>): number {
  return config.maxBodyBytes + Math.ceil(config.maxImageBytes / 3) * 4 + 64 * 1024;
}

/**
 * JSON through Fastify's own parser (with its prototype-poisoning checks), except that an empty
 * body is no body, as clients send on bodiless POSTs; multipart as text fields and the one image
 * file part. Bodies are read by our own readers, which read a refused body to its end before the
 * 413/400 is answered (so an uploading client receives it). Create routes take
 * `uploadBodyLimit`, others `T2V_MAX_BODY_BYTES`. Any other media type is refused before a
 * handler runs (415, rendered by the exception filter).
 */
function registerBodyParsers(
  fastify: FastifyInstance,
  config: Pick<AppConfig, 'maxBodyBytes' | 'maxImageBytes'>,
): void {
  const uploadLimit = uploadBodyLimit(config);
  const limitOf = (request: { routeOptions: { url?: string } }) =>
    IMAGE_ROUTES.has(request.routeOptions.url ?? '') ? uploadLimit : config.maxBodyBytes;
  const json = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', (request, payload, done) => {
    readText(payload, request.headers, limitOf(request)).then(
      (body) => {
        if (body === '') return done(null, undefined);
        json(request, body, (err, value) => {
          if (err) {
            return done(
              new ApiError(400, 'invalid_request_error', 'invalid_json', `Request body is not valid JSON.`),
              undefined,
            );
          }
          // The image has its own limit: the other fields still fit in T2V_MAX_BODY_BYTES.
          if (body.length > config.maxBodyBytes && fieldBytes(body, value) > config.maxBodyBytes) {
            return done(
              payloadTooLarge(config.maxBodyBytes, 'The request without input_reference'),
              undefined,
            );
          }
          done(null, value);
        });
      },
      (err: Error) => done(err, undefined),
    );
  });
  fastify.addContentTypeParser('multipart/form-data', (request, payload, done) => {
    const imageRoute = IMAGE_ROUTES.has(request.routeOptions.url ?? '');
    readMultipartBody(payload, request.headers, {
      fieldBytes: config.maxBodyBytes,
      fileBytes: imageRoute ? config.maxImageBytes : 0,
      totalBytes: limitOf(request),
    }).then(
      (fields) => done(null, fields),
      (err: Error) => done(err, undefined),
    );
  });
}
