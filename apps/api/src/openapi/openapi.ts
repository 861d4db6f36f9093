import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';

import type { ModelDescriptor } from '../models/model-description';
import { createVideoSchema } from '../videos/create-video.schema';
import { ref } from '../wire/openapi-refs';
import { errorResponseSchema } from '../wire/error.schema';
import { modelListSchema, modelObjectSchema } from '../wire/model.schema';
import { videoDeletedSchema, videoListSchema, videoObjectSchema } from '../wire/video.schema';
import { usageReportSchema } from '../wire/usage.schema';

/**
 * One message of `GET /v1/videos/{id}/events` as an SSE client parses it: `event` names it, `data` is
 * one line of JSON, the video object at that moment (its `progress` and `queue_position` included).
 * OpenAPI 3.0 has no sequential media types, so the schema of `text/event-stream` describes one
 * parsed event (the reading OpenAPI 3.2's `itemSchema` makes explicit) and `data` carries its JSON
 * schema as `contentMediaType` + `contentSchema`. Each event name fixes the status in `data`.
 */
const VIDEO_STREAM_EVENTS: ReadonlyArray<[names: string[], status: string, meaning: string]> = [
  [['video.queued'], 'queued', 'waiting; sent again when `queue_position` or `queue_reason` changes'],
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

/**
 * The multipart/form-data form of a create: the JSON request's fields as form fields (numbers as
 * text, coerced like JSON's), with `input_reference` a file part and `metadata` and `lora` JSON
 * text. What Swagger UI renders as the upload form, and how the OpenAI SDKs send a create.
 */
function multipartCreateSchema(json: Record<string, unknown>): Record<string, unknown> {
  const properties = { ...(json['properties'] as Record<string, Record<string, unknown>>) };
  properties['input_reference'] = {
    type: 'string',
    format: 'binary',
    description:
      'Image-to-video: the image file (PNG, JPEG or WebP, judged by its bytes; at most T2V_MAX_IMAGE_BYTES). ' +
      'A data: URL as text is accepted too. Fitted to the video size per `input_fit`.',
  };
  properties['metadata'] = {
    type: 'string',
    description: 'A JSON object of up to 16 string pairs, e.g. {"project":"demo"}.',
  };
  properties['lora'] = {
    type: 'string',
    description: 'A JSON array of adapters, e.g. [{"name":"style","scale":0.8}] (see the JSON body).',
  };
  return {
    ...json,
    description: 'CreateVideoRequest as multipart/form-data (the OpenAI SDKs send this form).',
    properties,
  };
}

/** Points each create's multipart/form-data body at the multipart schema, with the file's types. */
function useMultipartSchema(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    const content =
      item.post?.requestBody && 'content' in item.post.requestBody ? item.post.requestBody.content : null;
    const form = content?.['multipart/form-data'];
    if (!form || (form.schema as { $ref?: string } | undefined)?.$ref !== ref('CreateVideoRequest').$ref)
      continue;
    content['multipart/form-data'] = {
      schema: ref('CreateVideoMultipartRequest'),
      encoding: { input_reference: { contentType: 'image/png, image/jpeg, image/webp' } },
    };
  }
}

function toSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete json['$schema'];
  return json;
}

/**
 * The OpenAPI document: routes from the controllers' decorators, bodies and objects from the zod
 * schemas. The create request is described from the model's card (limits, presets, an example), so
 * the document of a running API follows the card it serves (`documentFor`).
 */
export function buildOpenApiDocument(app: INestApplication, model: ModelDescriptor): OpenAPIObject {
  return documentFor(routesDocument(app), model);
}

/** The routes and fixed schemas, scanned once from the app. */
export function routesDocument(app: INestApplication): OpenAPIObject {
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
  useMultipartSchema(document);
  return document;
}

/** `routes` with the create request of `model`'s card (a new object; `routes` is not changed). */
export function documentFor(routes: OpenAPIObject, model: ModelDescriptor): OpenAPIObject {
  const create = toSchema(createVideoSchema(model), 'input');
  const p = model.presets;
  // A create that runs as is on this model: its default size, a short clip, its default steps.
  create['example'] = {
    prompt: 'a cat dancing in the rain',
    size: p.default_size,
    seconds: p.seconds.min,
    num_inference_steps: p.num_inference_steps.default,
  };
  const schemas = {
    ...(routes.components?.schemas ?? {}),
    CreateVideoRequest: create,
    CreateVideoMultipartRequest: multipartCreateSchema(create),
    Video: toSchema(videoObjectSchema, 'output'),
    VideoList: toSchema(videoListSchema, 'output'),
    VideoDeleted: toSchema(videoDeletedSchema, 'output'),
    Model: toSchema(modelObjectSchema, 'output'),
    ModelList: toSchema(modelListSchema, 'output'),
    ErrorResponse: toSchema(errorResponseSchema, 'output'),
    UsageReport: toSchema(usageReportSchema, 'output'),
    VideoStreamEvent: videoStreamEventSchema(),
  } as NonNullable<OpenAPIObject['components']>['schemas'];
  return { ...routes, components: { ...routes.components, schemas } };
}
