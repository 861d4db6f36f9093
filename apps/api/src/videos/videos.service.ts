import { PassThrough } from 'node:stream';

import { Inject, Injectable } from '@nestjs/common';
import { isTerminal } from '@t2v/contracts';
import { z } from 'zod';

import { ApiError } from '../common/api-error';
import { abortOnClose, header, type HttpReply, type HttpRequest, mediaType, sendFile } from '../common/http';
import { type CreatePreferences, createPreferences, preferenceApplied } from '../common/prefer';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { JobEvents } from '../jobs/job-events';
import type { Job } from '../jobs/job.types';
import { JobsService, randomSeed } from '../jobs/jobs.service';
import { ModelsService } from '../models/models.service';
import { StorageService } from '../storage/storage.service';
import { WebhookService } from '../webhooks/webhook.service';
import {
  coerceMultipart,
  createVideoSchema,
  type ResolvedCreate,
  resolveCreate,
  zodToApiError,
} from './create-video.schema';
import { ADJUSTED_HEADER, adjustedHeader, toVideoObject, type VideoObject } from './video.presenter';

const listQuerySchema = z.strictObject({
  after: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
});

const PING_MS = 15_000;

/** HTTP-facing glue for /v1/videos: parses and validates input, presents jobs as video objects. */
@Injectable()
export class VideosService {
  private readonly schema;
  private readonly accepted: string[];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly jobs: JobsService,
    private readonly events: JobEvents,
    private readonly storage: StorageService,
    private readonly webhooks: WebhookService,
    models: ModelsService,
  ) {
    this.schema = createVideoSchema(models.model);
    this.accepted = Object.keys(this.schema.shape);
    this.model = models.model;
  }

  private readonly model;

  /** Validates a create body (JSON or multipart) and applies the model's presets. */
  parseCreate(req: Pick<HttpRequest, 'headers'>, body: unknown): ResolvedCreate {
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
    return this.resolve(req, input);
  }

  /** Validates create fields already in their JSON types; `Prefer: handling` applies. */
  resolve(req: Pick<HttpRequest, 'headers'>, input: unknown): ResolvedCreate {
    const prefs = this.preferences(req);
    try {
      const parsed = this.schema.safeParse(input);
      if (!parsed.success) throw zodToApiError(parsed.error, this.accepted, input);
      return resolveCreate(parsed.data, this.model, randomSeed, prefs.handling);
    } catch (err) {
      const applied = preferenceApplied(prefs, null);
      if (err instanceof ApiError && applied) Object.assign(err.headers, { 'Preference-Applied': applied });
      throw err;
    }
  }

  /** `Prefer` of a create: `handling` (default: T2V_PARAM_HANDLING) and `wait`. */
  preferences(req: Pick<HttpRequest, 'headers'>): CreatePreferences {
    return createPreferences(header(req, 'prefer'), {
      handling: this.config.paramHandling,
      maxWaitS: this.config.maxWaitS,
    });
  }

  /**
   * `Preference-Applied` and `t2v-adjusted` of a create's answer. The header tells what was done
   * to this request; the body is the job, which for an identical seeded request already in flight
   * is the first requester's (with its own `adjusted`).
   */
  setCreateHeaders(
    req: Pick<HttpRequest, 'headers'>,
    res: HttpReply,
    resolved: Pick<ResolvedCreate, 'adjusted'>,
    waited: number | null,
  ): void {
    const applied = preferenceApplied(this.preferences(req), waited);
    if (applied) res.header('Preference-Applied', applied);
    const adjusted = adjustedHeader(resolved.adjusted);
    if (adjusted) res.header(ADJUSTED_HEADER, adjusted);
  }

  /** parseCreate plus the checks that need I/O (the webhook target). */
  parseCreateChecked(req: HttpRequest, body: unknown): Promise<ResolvedCreate> {
    return this.checkWebhook(this.parseCreate(req, body));
  }

  /** The check of a resolved create that needs I/O: the webhook target. */
  async checkWebhook(resolved: ResolvedCreate): Promise<ResolvedCreate> {
    if (resolved.webhookUrl) {
      const problem = await this.webhooks.urlProblem(resolved.webhookUrl);
      if (problem) throw ApiError.badRequest('webhook_url', `webhook_url ${problem}.`);
    }
    return resolved;
  }

  async create(
    req: HttpRequest,
    res: HttpReply,
    body: unknown,
    idempotencyKey: string | undefined,
  ): Promise<VideoObject> {
    const resolved = await this.parseCreateChecked(req, body);
    const key = this.idempotencyKey(idempotencyKey);
    const { job } = await this.jobs.create(resolved, key);
    const { wait } = this.preferences(req);
    const done =
      wait === null
        ? await this.jobs.get(job.id)
        : await this.jobs.waitForTerminal(job.id, wait * 1000, abortOnClose(res));
    this.setCreateHeaders(req, res, resolved, wait);
    return this.present(done);
  }

  async createSync(
    req: HttpRequest,
    res: HttpReply,
    body: unknown,
    idempotencyKey: string | undefined,
  ): Promise<void> {
    const resolved = await this.parseCreateChecked(req, body);
    const { job } = await this.jobs.create(resolved, this.idempotencyKey(idempotencyKey));
    const done = await this.jobs.waitForTerminal(job.id, this.config.syncWaitS * 1000, abortOnClose(res));
    this.setCreateHeaders(req, res, resolved, null);
    if (done.status === 'completed') {
      res.code(200).header('x-video-id', done.id);
      await this.sendFile(done, 'video', req, res);
      return;
    }
    if (done.status === 'failed') {
      throw new ApiError(
        500,
        'server_error',
        'internal_error',
        `Generation failed: ${done.errorCode}: ${done.errorMessage}`,
      );
    }
    if (done.status === 'cancelled')
      throw ApiError.conflict('invalid_state', `Video ${done.id} was cancelled.`);
    const video = await this.present(done);
    res.code(202).header('Location', `/v1/videos/${done.id}`);
    this.setPollHint(res, video);
    await res.send(video);
  }

  async retrieve(id: string): Promise<VideoObject> {
    return this.present(await this.jobs.get(this.checkId(id)));
  }

  async list(query: Record<string, unknown>) {
    const parsed = listQuerySchema.safeParse(query);
    if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(listQuerySchema.shape), query);
    const page = await this.jobs.list(parsed.data);
    const data = await Promise.all(page.data.map((j) => this.present(j)));
    return {
      object: 'list' as const,
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: page.hasMore,
    };
  }

  async delete(id: string) {
    await this.jobs.delete(this.checkId(id));
    return { id, object: 'video.deleted' as const, deleted: true as const };
  }

  async cancel(id: string): Promise<VideoObject> {
    return this.present(await this.jobs.cancel(this.checkId(id)));
  }

  async sendContent(id: string, variantParam: unknown, req: HttpRequest, res: HttpReply): Promise<void> {
    const variant = variantParam ?? 'video';
    if (variant !== 'video' && variant !== 'thumbnail') {
      throw ApiError.badRequest('variant', "variant must be 'video' or 'thumbnail'.");
    }
    const job = await this.jobs.get(this.checkId(id));
    if (job.status !== 'completed') {
      throw ApiError.conflict(
        'video_not_ready',
        `Video ${id} is ${job.status}; content exists once it is completed.`,
        'id',
      );
    }
    if (job.expired)
      throw new ApiError(
        404,
        'not_found_error',
        'not_found',
        `The outputs of ${id} expired and were deleted.`,
        'id',
      );
    await this.sendFile(job, variant, req, res);
  }

  private sendFile(
    job: Job,
    variant: 'video' | 'thumbnail',
    req: HttpRequest,
    res: HttpReply,
  ): Promise<void> {
    return sendFile(
      req,
      res,
      this.storage.pathFor(job.id, variant),
      {
        'content-type': variant === 'video' ? 'video/mp4' : 'image/jpeg',
        'content-disposition': `inline; filename="${job.id}.${variant === 'video' ? 'mp4' : 'jpg'}"`,
        'cache-control': 'private, max-age=3600',
      },
      () =>
        new ApiError(404, 'not_found_error', 'not_found', `The ${variant} of ${job.id} is missing.`, 'id'),
    );
  }

  async streamEvents(id: string, res: HttpReply): Promise<void> {
    const job = await this.jobs.get(this.checkId(id));
    const stream = new PassThrough();
    res.headers({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    void res.send(stream);
    let closed = false;
    let lastSent = '';
    let sentInProgress = false;
    const send = async (j: Job) => {
      if (closed) return;
      let video: VideoObject;
      try {
        video = await this.present(j);
      } catch {
        return; // the store cannot answer now (Redis restarting): the next refresh sends it
      }
      const key = `${video.status}:${video.progress}:${video.queue_position}`;
      if (key === lastSent || closed) return;
      lastSent = key;
      let name = `video.${j.status}`;
      if (j.status === 'in_progress') {
        if (sentInProgress) name = 'video.progress';
        sentInProgress = true;
      }
      stream.write(`event: ${name}\ndata: ${JSON.stringify(video)}\n\n`);
      if (isTerminal(j.status)) close();
    };
    const unsubscribe = this.events.subscribe(id, (j) => void send(j));
    // A queued job's position changes as others finish: refresh it while it waits.
    const refresh = setInterval(() => {
      void this.jobs.get(id).then(send, () => close());
    }, 1000);
    const ping = setInterval(() => stream.write(': ping\n\n'), PING_MS);
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(refresh);
      clearInterval(ping);
      stream.end();
    };
    res.raw.on('close', close);
    await send(job);
  }

  async present(job: Job): Promise<VideoObject> {
    return toVideoObject(job, await this.jobs.queuePosition(job));
  }

  setPollHint(res: HttpReply, video: VideoObject): void {
    if (isTerminal(video.status)) return;
    const ms = this.config.engine === 'wan' ? 2000 : video.status === 'queued' ? 500 : 250;
    res.header('openai-poll-after-ms', String(ms));
  }

  private checkId(id: string): string {
    if (!StorageService.isValidId(id)) throw ApiError.notFound('video', id);
    return id;
  }

  private idempotencyKey(key: string | undefined): string | null {
    if (key === undefined || key === '') return null;
    if (key.length > 255)
      throw ApiError.badRequest('Idempotency-Key', 'Idempotency-Key must be at most 255 characters.');
    return key;
  }
}
