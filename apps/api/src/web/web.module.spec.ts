import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  type CanActivate,
  Controller,
  Get,
  type INestApplication,
  Module,
  UnauthorizedException,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';

import { DEFAULT_WEB_ROOT, PLAYGROUND_CSP, WebModule } from './web.module';

@Controller('v1')
class ProbeController {
  @Get('probe')
  probe() {
    return { ok: true };
  }
}

/** Stands in for the API-key guard: every controller route is refused. */
class DenyAll implements CanActivate {
  canActivate(): boolean {
    throw new UnauthorizedException();
  }
}

async function appServing(root: string): Promise<INestApplication> {
  @Module({
    imports: [WebModule.serve(root)],
    controllers: [ProbeController],
    providers: [{ provide: APP_GUARD, useClass: DenyAll }],
  })
  class TestModule {}
  const moduleRef = await Test.createTestingModule({ imports: [TestModule] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    logger: false,
  });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe('WebModule', () => {
  let root: string;
  let app: INestApplication;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 't2v-web-'));
    mkdirSync(join(root, 'assets'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>t2v playground</title>');
    writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    app = await appServing(root);
  });

  afterAll(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('finds apps/web/dist from its own location', () => {
    expect(DEFAULT_WEB_ROOT.endsWith(join('apps', 'web', 'dist'))).toBe(true);
  });

  it('serves index.html at / before guards, with its CSP and no-cache', async () => {
    const res = await request(app.getHttpServer()).get('/').expect(200);
    expect(res.text).toContain('t2v playground');
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toBe(PLAYGROUND_CSP);
    expect(res.headers['cache-control']).toBe('no-cache');
  });

  it('serves hashed assets as immutable and top-level files of the build', async () => {
    const js = await request(app.getHttpServer()).get('/assets/index-abc123.js').expect(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
    expect(js.headers['cache-control']).toContain('immutable');
    await request(app.getHttpServer()).get('/favicon.svg').expect(200);
    await request(app.getHttpServer()).head('/').expect(200);
  });

  it('leaves API routes, unknown paths and other methods to the API', async () => {
    await request(app.getHttpServer()).get('/v1/probe').expect(401);
    await request(app.getHttpServer()).get('/assets/missing.js').expect(404);
    await request(app.getHttpServer()).get('/secret.txt').expect(404);
    await request(app.getHttpServer()).post('/').expect(404);
    await request(app.getHttpServer())
      .get('/assets/../index.html')
      .expect((res) => expect(res.status).not.toBe(500));
  });

  it('says how to build the page when the build is missing', async () => {
    const bare = await appServing(join(root, 'nothing-here'));
    try {
      const res = await request(bare.getHttpServer()).get('/').expect(404);
      expect(res.text).toContain('nx run web:build');
      await request(bare.getHttpServer()).get('/v1/probe').expect(401);
    } finally {
      await bare.close();
    }
  });
});
