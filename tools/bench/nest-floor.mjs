// The framework's floor for the HTTP benchmark: NestJS on the Fastify adapter (as the API runs)
// with one controller doing the bare server's in-memory JSON work, and nothing else (no store,
// guards, hooks, logs or metrics). Between this and the bare server is the framework's cost;
// between this and the API, the cost of the API's own work. Prints its port like bare-server.mjs.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';

import { Body, Controller, Get, HttpCode, Module, NotFoundException, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

const jobs = new Map();

class FloorController {
  create(body) {
    const id = `video_${randomUUID().replace(/-/g, '').slice(0, 26)}`;
    const video = {
      id,
      object: 'video',
      model: 't2v-synthetic',
      status: 'queued',
      progress: 0,
      created_at: Math.floor(Date.now() / 1000),
      completed_at: null,
      expires_at: null,
      prompt: body.prompt,
      seconds: String(body.seconds ?? 1),
      size: body.size ?? '320x192',
      error: null,
      seed: 1,
      negative_prompt: null,
      num_inference_steps: 8,
      guidance_scale: 5,
      flow_shift: null,
      fps: 24,
      num_frames: 25,
      queue_position: jobs.size + 1,
      cached: false,
      metadata: {},
      timings: { queue_s: null, load_s: null, inference_s: null, encode_s: null },
    };
    jobs.set(id, video);
    return video;
  }

  retrieve(id) {
    const video = jobs.get(id);
    if (!video) throw new NotFoundException();
    return video;
  }
}

// Decorators applied as functions: this file runs as plain JavaScript.
const method = (name) => Object.getOwnPropertyDescriptor(FloorController.prototype, name);
Post()(FloorController.prototype, 'create', method('create'));
HttpCode(200)(FloorController.prototype, 'create', method('create'));
Body()(FloorController.prototype, 'create', 0);
Get(':id')(FloorController.prototype, 'retrieve', method('retrieve'));
Param('id')(FloorController.prototype, 'retrieve', 0);
Controller('v1/videos')(FloorController);

class FloorModule {}
Module({ controllers: [FloorController] })(FloorModule);

const app = await NestFactory.create(FloorModule, new FastifyAdapter(), { logger: false });
await app.listen(0, '127.0.0.1');
console.log(`listening on http://127.0.0.1:${app.getHttpServer().address().port}`);
