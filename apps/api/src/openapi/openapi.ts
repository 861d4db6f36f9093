import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_ERROR_CODES, API_ERROR_TYPES } from '@t2v/contracts';
import { z } from 'zod';

import type { ModelDescriptor } from '../models/model-presets';
import { createVideoSchema } from '../videos/create-video.schema';
import { videoDeletedSchema, videoListSchema, videoObjectSchema } from '../videos/video.presenter';

const range = z.object({ min: z.number(), max: z.number(), default: z.number() });
const modelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    engine: z.enum(['synthetic', 'wan-tiny', 'wan']),
    description: z.string(),
    presets: z.object({
      sizes: z.array(z.string()),
      default_size: z.string(),
      fps: z.number().int(),
      fps_range: z.object({ min: z.number(), max: z.number() }),
      seconds: range,
      max_frames: z.number().int(),
      num_inference_steps: range,
      guidance_scale: range,
      flow_shift: z
        .number()
        .nullable()
        .describe('Used when a request gives none; null: the scheduler default.'),
      max_prompt_length: z.number().int(),
      max_pixel_frames: z
        .number()
        .int()
        .nullable()
        .describe(
          'Width × height × frames a job may have on this deployment (GPU memory budget); null: none.',
        ),
    }),
    acceleration: z
      .object({
        compile: z.enum(['off', 'blocks']),
        cache: z.string().describe('off or first-block:<threshold>'),
        attention: z
          .string()
          .nullable()
          .describe('Configured attention backend; null: picked by the worker.'),
      })
      .describe('How this deployment runs the model; a request opts out with "acceleration": "none".'),
    profile: z.string().nullable().describe('Model profile file in effect (defaults and ranges), or null.'),
  })
  .describe('Model');

const errorSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.enum(API_ERROR_TYPES),
      param: z.string().nullable(),
      code: z.enum(API_ERROR_CODES),
    }),
  })
  .describe('ErrorResponse');

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
    Model: toSchema(modelSchema, 'output'),
    ModelList: toSchema(z.object({ object: z.literal('list'), data: z.array(modelSchema) }), 'output'),
    ErrorResponse: toSchema(errorSchema, 'output'),
  } as NonNullable<OpenAPIObject['components']>['schemas'];
  return document;
}
