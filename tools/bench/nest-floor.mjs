// The framework's floor for the HTTP benchmark: NestJS on the Fastify adapter (as the API runs)
// with one controller doing the bare server's in-memory JSON work, and nothing else (no store,
// guards, hooks, logs or metrics). Between this and the bare server is the framework's cost;
// between this and the API, the cost of the API's own work. Prints its port like bare-server.mjs.
import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Module, NotFoundException, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

import { newVideo } from './bare-server.mjs';

const jobs = new Map();

class FloorController {
  create(body) {
    const video = newVideo(body, jobs.size + 1);
    jobs.set(video.id, video);
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
