import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';

import { ApiError } from '../common/api-error';
import { header, type HttpRequest, mediaType } from '../common/http';
import { type CreatePreferences, createPreferences, preferenceApplied } from '../common/prefer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { randomSeed } from '../jobs/jobs.service';
import type { ListQuery } from '../jobs/job.types';
import { ModelsService } from '../models/models.service';
import { StorageService } from '../storage/storage.service';
import { WebhookPolicy } from '../webhooks/webhook-policy';
import {
  coerceMultipart,
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
  private readonly schema;
  private readonly accepted: string[];

  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'maxWaitS' | 'paramHandling'>,
    private readonly models: ModelsService,
    private readonly webhooks: WebhookPolicy,
  ) {
    this.schema = createVideoSchema(models.model);
    this.accepted = Object.keys(this.schema.shape);
  }

  /** Validates a create body (JSON or multipart) and applies the model's presets. */
  create(req: Headers, body: unknown): ResolvedCreate {
    const contentType = req.headers['content-type'];
    const type = mediaType(req);
    const multipart = type === 'multipart/form-data';
    if (type && !multipart && type !== 'application/json') {
      throw ApiError.unsupportedMediaType(String(contentType));
    }
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw ApiError.badRequest(null, 'The request body must be a JSON object.', 'invalid_json');
    }
    const input = multipart ? coerceMultipart(body as Record<string, unknown>) : body;
    return this.fields(req, input);
  }

  /**
   * Validates create fields already in their JSON types and resolves them against the model:
   * presets, aliases, grid snapping (`Prefer: handling` decides snap or refuse). A refusal names
   * the handling it applied in `Preference-Applied`.
   */
  private fields(req: Headers, input: unknown): ResolvedCreate {
    const prefs = this.preferences(req);
    try {
      const parsed = this.schema.safeParse(input);
      if (!parsed.success) throw zodToApiError(parsed.error, this.accepted, input);
      return resolveCreate(parsed.data, this.models.model, randomSeed, prefs.handling);
    } catch (err) {
      const applied = preferenceApplied(prefs, null);
      if (err instanceof ApiError && applied) Object.assign(err.headers, { 'Preference-Applied': applied });
      throw err;
    }
  }

  /** `create` plus the checks that need I/O (the webhook target). */
  createChecked(req: Headers, body: unknown): Promise<ResolvedCreate> {
    return this.checkWebhook(this.create(req, body));
  }

  /** The create fields given as query parameters (GET /generate), typed as in a multipart form. */
  fromQuery(req: Headers, query: Record<string, unknown>): Promise<ResolvedCreate> {
    return this.checkWebhook(this.fields(req, coerceMultipart(query)));
  }

  /** The `Prefer` of a create: `handling` (default T2V_PARAM_HANDLING) and `wait` (bounded). */
  preferences(req: Headers): CreatePreferences {
    return createPreferences(header(req, 'prefer'), {
      handling: this.config.paramHandling,
      maxWaitS: this.config.maxWaitS,
    });
  }

  private async checkWebhook(resolved: ResolvedCreate): Promise<ResolvedCreate> {
    if (resolved.webhookUrl) {
      const problem = await this.webhooks.urlProblem(resolved.webhookUrl);
      if (problem) throw ApiError.badRequest('webhook_url', `webhook_url ${problem}.`);
    }
    return resolved;
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
