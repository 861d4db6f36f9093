import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';

import type { ModelDescriptor } from '../presets/model-presets';
import { createVideoSchema } from '../videos/create-video.schema';
import { errorResponseSchema } from '../wire/error.schema';
import { modelListSchema, modelObjectSchema } from '../wire/model.schema';
import { videoDeletedSchema, videoListSchema, videoObjectSchema } from '../wire/video.schema';

/**
 * One message of `GET /v1/videos/{id}/events` as an SSE client parses it: `event` names it, `data` is
 * one line of JSON, the video object at that moment (its `progress` and `queue_position` included).
 * OpenAPI 3.0 has no sequential media types, so the schema of `text/event-stream` describes one
 * parsed event (the reading OpenAPI 3.2's `itemSchema` makes explicit) and `data` carries its JSON
 * schema as `contentMediaType` + `contentSchema`. Each event name fixes the status in `data`.
 */
const VIDEO_STREAM_EVENTS: ReadonlyArray<[names: string[], status: string, meaning: string]> = [
  [['video.queued'], 'queued', 'waiting; sent again when `queue_position` changes'],
  [
    ['video.in_progress', 'video.progress'],
    'in_progress',
    'running; one `video.progress` per denoising step',
  ],
  [['video.completed'], 'completed', 'the MP4 is ready; the stream ends'],
  [['video.failed'], 'failed', '`error` says why; the stream ends'],
  [['video.cancelled'], 'cancelled', 'the stream ends'],
];

function videoStreamEventSchema(): Record<string, unknown> {
  return {
    description:
      'One Server-Sent Event: `event:` names it, `data:` is the video object as JSON. Comment lines ' +
      '(`: ping`) keep the connection open and carry no event.',
    oneOf: VIDEO_STREAM_EVENTS.map(([names, status, meaning]) => ({
      type: 'object',
      description: `${names.join(', ')}: ${meaning}.`,
      required: ['event', 'data'],
      properties: {
        event: { type: 'string', enum: names },
        data: {
          type: 'string',
          description: `The video object (status \`${status}\`) as one line of JSON.`,
          contentMediaType: 'application/json',
          contentSchema: {
            allOf: [{ $ref: '#/components/schemas/Video' }, { properties: { status: { enum: [status] } } }],
          },
        },
      },
    })),
  };
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete json['$schema'];
  return json;
}

/** The OpenAPI document: routes from the controllers' decorators, bodies and objects from the zod schemas. */
export function buildOpenApiDocument(app: INestApplication, model: ModelDescriptor): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('t2v API')
    .setDescription(
      'Text-to-video generation. OpenAI Videos API shape plus extensions. Errors use the OpenAI envelope ' +
        '`{"error":{"message","type","param","code"}}`.',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key (when the server requires keys)' })
    .addSecurityRequirements('bearer')
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) =>
      `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
  document.components ??= {};
  document.components.schemas = {
    ...(document.components.schemas ?? {}),
    CreateVideoRequest: toSchema(createVideoSchema(model), 'input'),
    Video: toSchema(videoObjectSchema, 'output'),
    VideoList: toSchema(videoListSchema, 'output'),
    VideoDeleted: toSchema(videoDeletedSchema, 'output'),
    Model: toSchema(modelObjectSchema, 'output'),
    ModelList: toSchema(modelListSchema, 'output'),
    ErrorResponse: toSchema(errorResponseSchema, 'output'),
    VideoStreamEvent: videoStreamEventSchema(),
  } as NonNullable<OpenAPIObject['components']>['schemas'];
  return document;
}
