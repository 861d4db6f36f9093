import { randomUUID } from 'node:crypto';

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SwaggerModule } from '@nestjs/swagger';
import { getToken } from '@willsoto/nestjs-prometheus';
import helmet from 'helmet';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Histogram } from 'prom-client';

import { AppModule } from './app.module';
import { toApiError } from './common/http-exception.filter';
import { JsonLogger, requestContext } from './common/json-logger';
import type { AppConfig } from './config/app-config';
import { METRIC } from './metrics/metrics';
import { ModelsService } from './models/models.service';
import { buildOpenApiDocument } from './openapi/openapi';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the app (not listening). Shared by main.ts, the spec export and the e2e tests. */
export async function createApp(
  config: AppConfig,
  logger = new JsonLogger(config.logLevel),
): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forConfig(config), { bodyParser: false, logger });
  const http = app.getHttpAdapter().getInstance() as express.Express;
  http.disable('x-powered-by');
  // Job objects change on every poll; hashing each JSON body for an ETag costs more than it saves.
  http.set('etag', false);
  http.set('trust proxy', true);
  app.use(
    helmet({
      // JSON and media need no CSP; the playground page sets its own strict one.
      contentSecurityPolicy: false,
      // Other origins may embed the MP4s and thumbnails (players, galleries).
      crossOriginResourcePolicy: { policy: 'cross-origin' },
    }),
  );
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
        'content-range',
      ],
      maxAge: 600,
    });
  }
  const duration = app.get<Histogram<string>>(getToken(METRIC.httpDuration));
  app.use((req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', requestId);
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      duration.observe({ method: req.method, route, status_code: String(res.statusCode) }, seconds);
      if (route !== '/metrics' && route !== '/healthz' && route !== '/readyz') {
        logger.access({
          request_id: requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Math.round(seconds * 1000),
        });
      }
    });
    requestContext.run({ requestId }, next);
  });
  const json = express.json({ limit: config.maxBodyBytes, strict: false });
  // Body parser errors become API errors here, so the filter renders them like any other 4xx.
  app.use((req: Request, res: Response, next: NextFunction) =>
    json(req, res, (err?: unknown) => next(err ? toApiError(err) : undefined)),
  );
  const document = buildOpenApiDocument(app, app.get(ModelsService).model);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'openapi.json',
    customSiteTitle: 't2v API',
    swaggerOptions: { persistAuthorization: true },
  });
  return app;
}
