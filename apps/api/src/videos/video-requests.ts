import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';

import { ApiError } from '../common/api-error';
import { header, type HttpRequest, mediaType } from '../common/http';
import { type CreatePreferences, createPreferences, preferenceApplied } from '../common/prefer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import {
  decodeDataUrl,
  fitImage,
  ImageGate,
  type ImageLimits,
  type InputFit,
  probeImage,
} from '../images/input-image';
import type { AuthenticatedRequest } from '../common/api-key.guard';
import { callerOf } from '../jobs/fair-queue';
import { randomSeed } from '../jobs/jobs.service';
import type { ListQuery, NewJobRequest } from '../jobs/job.types';
import type { ModelDescriptor } from '../models/model-description';
import { ModelsService } from '../models/models.service';
import { StorageService } from '../storage/storage.service';
import { WebhookPolicy } from '../webhooks/webhook-policy';
import {
  coerceMultipart,
  type CreateVideoBody,
  createVideoSchema,
  type ResolvedCreate,
  resolveCreate,
  zodToApiError,
} from './create-video.schema';

const listQuerySchema = z.strictObject({
  after: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
});

type Headers = Pick<HttpRequest, 'headers'>;

/**
 * Reads what /v1/videos requests carry (bodies, queries, ids, headers) into what the job
 * service takes, or refuses with a 400 that names the field.
 */
@Injectable()
export class VideoRequests {
  /** The create schema of the model served now (rebuilt when a worker publishes another card). */
  private built: {
    model: ModelDescriptor;
    schema: ReturnType<typeof createVideoSchema>;
    accepted: string[];
  } | null = null;
  private readonly imageLimits: ImageLimits;
  /** Decoding holds a full bitmap (up to T2V_MAX_IMAGE_PIXELS × 4 bytes): two at a time. */
  private readonly imageGate = new ImageGate(2);

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<
      AppConfig,
      'maxWaitS' | 'paramHandling' | 'maxImageBytes' | 'maxImagePixels'
    >,
    private readonly models: ModelsService,
    private readonly webhooks: WebhookPolicy,
  ) {
    this.imageLimits = { maxBytes: config.maxImageBytes, maxPixels: config.maxImagePixels };
  }

  private current(): NonNullable<VideoRequests['built']> {
    const model = this.models.model;
    if (this.built?.model !== model) {
      const schema = createVideoSchema(model);
      this.built = { model, schema, accepted: Object.keys(schema.shape) };
    }
    return this.built;
  }

  /**
   * Validates a create body (JSON or multipart), checks and fits its image if it has one, applies
   * the model's presets and checks the webhook target. Field errors come first, then the image's.
   */
  async createChecked(req: Headers, body: unknown): Promise<NewJobRequest> {
    const contentType = req.headers['content-type'];
    const type = mediaType(req);
    const multipart = type === 'multipart/form-data';
    if (type && !multipart && type !== 'application/json') {
      throw ApiError.unsupportedMediaType(String(contentType));
    }
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw ApiError.badRequest(null, 'The request body must be a JSON object.', 'invalid_json');
    }
    // Coerced with the upload still in place, so a file part beside `input_reference[image_url]`
    // or `[file_id]` is refused as given twice.
    let input = multipart
      ? coerceMultipart(body as Record<string, unknown>)
      : (body as Record<string, unknown>);
    // The multipart reader keeps the uploaded file as a Buffer: checked below, not by the schema.
    const file = input['input_reference'];
    const upload = Buffer.isBuffer(file) ? file : null;
    if (upload) {
      input = { ...input };
      delete input['input_reference'];
    }
    return this.checkWebhook(req, await this.fields(req, input, upload));
  }

  /** The create fields given as query parameters (GET /generate), typed as in a multipart form. */
  async fromQuery(req: Headers, query: Record<string, unknown>): Promise<NewJobRequest> {
    if (Object.keys(query).some((k) => k.startsWith('input_reference'))) {
      throw ApiError.badRequest(
        'input_reference',
        'input_reference cannot be given in a query string; POST it to /v1/videos (multipart or JSON).',
      );
    }
    return this.checkWebhook(req, await this.fields(req, coerceMultipart(query), null));
  }

  /**
   * Validates create fields already in their JSON types and resolves them against the model:
   * presets, aliases, grid snapping (`Prefer: handling` decides snap or refuse), the image fitted
   * to the resolved size. A refusal names the handling it applied in `Preference-Applied`.
   */
  private async fields(req: Headers, input: unknown, upload: Buffer | null): Promise<ResolvedCreate> {
    const prefs = this.preferences(req);
    const { model, schema, accepted } = this.current();
    try {
      const parsed = schema.safeParse(input);
      if (!parsed.success) throw zodToApiError(parsed.error, accepted, input);
      const body = parsed.data;
      const bytes = upload ?? this.inlineImage(body);
      if (!bytes) {
        if (body.input_fit !== undefined) {
          throw ApiError.badRequest(
            'input_fit',
            'input_fit applies to an input_reference, and none is given.',
          );
        }
        return resolveCreate(body, model, randomSeed, prefs.handling);
      }
      if (!model.inputs.includes('image')) {
        throw ApiError.badRequest('input_reference', `${model.id} does not take an image input.`);
      }
      return await this.imageGate.run(async () => {
        const probe = await probeImage(bytes, this.imageLimits);
        const resolved = resolveCreate(body, model, randomSeed, prefs.handling, probe);
        const fit: InputFit = body.input_fit ?? 'crop';
        const { width, height } = resolved.params;
        return { ...resolved, image: await fitImage(bytes, width, height, fit, this.imageLimits) };
      });
    } catch (err) {
      const applied = preferenceApplied(prefs, null);
      if (err instanceof ApiError && applied) Object.assign(err.headers, { 'Preference-Applied': applied });
      throw err;
    }
  }

  /** The bytes of a JSON `input_reference` (a data: URL, bare or as `{"image_url": …}`). */
  private inlineImage(body: CreateVideoBody): Buffer | null {
    const ref = body.input_reference;
    if (ref === undefined) return null;
    if (typeof ref === 'string') return decodeDataUrl(ref, this.imageLimits.maxBytes);
    if (ref.file_id !== undefined) {
      throw ApiError.badRequest(
        'input_reference',
        'input_reference.file_id: this server has no files API; upload the image or send a data: URL.',
      );
    }
    if (ref.image_url === undefined) {
      throw ApiError.badRequest('input_reference', 'input_reference needs image_url (a data: URL).');
    }
    return decodeDataUrl(ref.image_url, this.imageLimits.maxBytes);
  }

  /** The `Prefer` of a create: `handling` (default T2V_PARAM_HANDLING) and `wait` (bounded). */
  preferences(req: Headers): CreatePreferences {
    return createPreferences(header(req, 'prefer'), {
      handling: this.config.paramHandling,
      maxWaitS: this.config.maxWaitS,
    });
  }

  /** Checks the webhook target, and names the caller the job is queued and metered for. */
  private async checkWebhook(req: Headers, resolved: ResolvedCreate): Promise<NewJobRequest> {
    if (resolved.webhookUrl) {
      const problem = await this.webhooks.urlProblem(resolved.webhookUrl);
      if (problem) throw ApiError.badRequest('webhook_url', `webhook_url ${problem}.`);
    }
    return { ...resolved, caller: callerOf((req as AuthenticatedRequest).principal, resolved.user) };
  }

  list(query: Record<string, unknown>): ListQuery {
    const parsed = listQuerySchema.safeParse(query);
    if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(listQuerySchema.shape), query);
    return parsed.data;
  }

  /** A well-formed video id; anything else cannot exist. */
  id(id: string): string {
    if (!StorageService.isValidId(id)) throw ApiError.notFound('video', id);
    return id;
  }

  idempotencyKey(key: string | undefined): string | null {
    if (key === undefined || key === '') return null;
    if (key.length > 255)
      throw ApiError.badRequest('Idempotency-Key', 'Idempotency-Key must be at most 255 characters.');
    return key;
  }

  variant(value: unknown): 'video' | 'thumbnail' {
    const variant = value ?? 'video';
    if (variant !== 'video' && variant !== 'thumbnail') {
      throw ApiError.badRequest('variant', "variant must be 'video' or 'thumbnail'.");
    }
    return variant;
  }
}
