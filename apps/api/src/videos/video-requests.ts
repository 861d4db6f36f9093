import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';

import { ApiError } from '../common/api-error';
import { type HttpRequest, mediaType } from '../common/http';
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
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'maxWaitS'>,
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
    const parsed = this.schema.safeParse(input);
    if (!parsed.success) throw zodToApiError(parsed.error, this.accepted, input);
    return resolveCreate(parsed.data, this.models.model, randomSeed);
  }

  /** `create` plus the checks that need I/O (the webhook target). */
  async createChecked(req: Headers, body: unknown): Promise<ResolvedCreate> {
    const resolved = this.create(req, body);
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

  /** Seconds asked for by `Prefer: wait=N` (bounded by T2V_MAX_WAIT_S), or null. */
  preferWait(prefer: string | undefined): number | null {
    if (!prefer) return null;
    const m = /(?:^|[,;\s])wait=(\d+)/.exec(prefer);
    if (!m) return null;
    return Math.min(Number(m[1]), this.config.maxWaitS);
  }

  variant(value: unknown): 'video' | 'thumbnail' {
    const variant = value ?? 'video';
    if (variant !== 'video' && variant !== 'thumbnail') {
      throw ApiError.badRequest('variant', "variant must be 'video' or 'thumbnail'.");
    }
    return variant;
  }
}
