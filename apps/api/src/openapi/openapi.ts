import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';

import type { ModelDescriptor } from '../models/model-presets';
import { createVideoSchema } from '../videos/create-video.schema';
import { errorResponseSchema } from '../wire/error.schema';
import { modelListSchema, modelObjectSchema } from '../wire/model.schema';
import { videoDeletedSchema, videoListSchema, videoObjectSchema } from '../wire/video.schema';

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
  } as NonNullable<OpenAPIObject['components']>['schemas'];
  return document;
}
