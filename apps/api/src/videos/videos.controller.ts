import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';

import { ApiError } from '../common/api-error';
import { abortOnClose, header, type HttpReply, type HttpRequest, sendFile, sendRange } from '../common/http';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { JobEvents } from '../jobs/job-events';
import type { Job } from '../jobs/job.types';
import { InvalidJobState, JobFailed, OutputGone } from '../jobs/jobs.errors';
import { JobsService } from '../jobs/jobs.service';
import { OUTPUT_STORE, type OutputStore } from '../storage/output-store';
import { errorResponses, ref } from '../wire/openapi-refs';
import type { VideoObject } from '../wire/video.schema';
import { CreateAndWait } from './create-and-wait';
import { JobEventStream } from './event-stream';
import { VideoPresenter } from './video-presenter';
import { VideoRequests } from './video-requests';

const PREFER = {
  name: 'Prefer',
  required: false,
  description:
    '`wait=N`: wait up to N seconds for a terminal state. `handling=strict`: a value off the model grid ' +
    'is a 400 naming the field instead of being snapped; `handling=lenient` snaps whatever the server default ' +
    '(T2V_PARAM_HANDLING). Honoured preferences are named in `Preference-Applied` (RFC 7240).',
};

const CREATE_HEADERS = {
  't2v-adjusted': {
    description:
      'What was snapped to the model grid, as in `adjusted` (RFC 8941 dictionary): ' +
      '`size;requested="1280x720";used="1280x704", num_frames;requested=80;used=81`. Absent when nothing was.',
    schema: { type: 'string' as const },
  },
  'Preference-Applied': {
    description: 'The honoured `Prefer` preferences, e.g. `handling=strict, wait=30`.',
    schema: { type: 'string' as const },
  },
};

/** /v1/videos: the OpenAI Videos API shape plus t2v's extensions. Owns the request and reply. */
@ApiTags('videos')
@Controller('v1/videos')
export class VideosController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'syncWaitS'>,
    private readonly requests: VideoRequests,
    private readonly jobs: JobsService,
    private readonly createAndWait: CreateAndWait,
    private readonly presenter: VideoPresenter,
    private readonly jobEvents: JobEvents,
    @Inject(OUTPUT_STORE) private readonly outputs: OutputStore,
  ) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create a video job',
    description:
      'Queues a generation and answers with the video object (status `queued`). JSON or multipart/form-data. ' +
      'Image-to-video: `input_reference`, a file part (multipart) or a data: URL (JSON), fitted to the size ' +
      '(`input_fit`); bad images are a 400 naming `input_reference`. LoRA adapters: `lora`. ' +
      '`Idempotency-Key` makes retries safe; `Prefer: wait=N` waits up to N seconds for completion. ' +
      "Sizes and frame counts off the model's grid are snapped to it and reported in `adjusted` and the " +
      '`t2v-adjusted` header; `Prefer: handling=strict` makes them a 400 instead.',
  })
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiBody({
    schema: ref('CreateVideoRequest'),
    examples: {
      basic: { value: { prompt: 'a cat dancing in the rain', seconds: '1' } },
      full: {
        value: {
          prompt: 'a cat dancing in the rain, cinematic',
          size: '832x480',
          seconds: 2,
          seed: 42,
          num_inference_steps: 30,
          guidance_scale: 5,
          negative_prompt: 'blurry, low quality',
          metadata: { project: 'demo' },
        },
      },
      image_to_video: {
        summary: 'Image-to-video from a data: URL (multipart: a file part named input_reference)',
        value: {
          prompt: 'the cat turns its head and blinks',
          input_reference:
            'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVR4nGMwTjtjnHaGAUIBACS2BZU4w3+7AAAAAElFTkSuQmCC',
          input_fit: 'crop',
          seconds: '2',
        },
      },
      lora: {
        summary: 'With a LoRA adapter (names: GET /v1/models `loras`)',
        value: { prompt: 'a lighthouse at dusk', lora: [{ name: 'style', scale: 0.8 }] },
      },
    },
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Same key and body: same job.' })
  @ApiHeader(PREFER)
  @ApiResponse({
    status: 200,
    description: 'The video object.',
    schema: ref('Video'),
    headers: CREATE_HEADERS,
  })
  @errorResponses(400, 401, 409, 413, 415, 429, 503)
  async create(
    @Req() req: HttpRequest,
    @Res({ passthrough: true }) res: HttpReply,
    @Body() body: unknown,
  ): Promise<VideoObject> {
    const request = await this.requests.createChecked(req, body);
    const key = this.requests.idempotencyKey(header(req, 'idempotency-key'));
    const prefs = this.requests.preferences(req);
    const job = await this.createAndWait.run(request, key, (prefs.wait ?? 0) * 1000, abortOnClose(res));
    const video = await this.presenter.present(job);
    this.presenter.setCreateHeaders(res, prefs, request.adjusted, prefs.wait);
    this.presenter.setPollHint(res, video);
    return video;
  }

  @Post('sync')
  @ApiOperation({
    summary: 'Generate and answer with the MP4',
    description:
      'Creates the job and waits (bounded). Completed: 200 with the MP4 bytes. Still running at the deadline: ' +
      '202 with `Location` and the video object.',
  })
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiBody({ schema: ref('CreateVideoRequest') })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Same key and body: same job.' })
  @ApiHeader({ ...PREFER, description: '`handling=strict|lenient`: refuse or snap off-grid values.' })
  @ApiProduces('video/mp4', 'application/json')
  @ApiResponse({
    status: 200,
    description: 'The MP4.',
    content: { 'video/mp4': { schema: { type: 'string', format: 'binary' } } },
    headers: CREATE_HEADERS,
  })
  @ApiResponse({ status: 202, description: 'Still running; poll Location.', schema: ref('Video') })
  @errorResponses(400, 401, 409, 413, 415, 429, 500, 503)
  async createSync(@Req() req: HttpRequest, @Res() res: HttpReply, @Body() body: unknown): Promise<void> {
    const request = await this.requests.createChecked(req, body);
    const key = this.requests.idempotencyKey(header(req, 'idempotency-key'));
    const done = await this.createAndWait.run(request, key, this.config.syncWaitS * 1000, abortOnClose(res));
    this.presenter.setCreateHeaders(res, this.requests.preferences(req), request.adjusted, null);
    if (done.status === 'completed') {
      res.code(200).header('x-video-id', done.id);
      await this.sendFile(done, 'video', req, res);
      return;
    }
    if (done.status === 'failed') {
      throw new JobFailed(`Generation failed: ${done.errorCode}: ${done.errorMessage}`);
    }
    if (done.status === 'cancelled')
      throw new InvalidJobState('cancelled', `Video ${done.id} was cancelled.`);
    const video = await this.presenter.present(done);
    res.code(202).header('Location', `/v1/videos/${done.id}`);
    this.presenter.setPollHint(res, video);
    await res.send(video);
  }

  @Get()
  @ApiOperation({ summary: 'List videos', description: 'Cursor pagination: pass the last id as `after`.' })
  @ApiQuery({ name: 'after', required: false, type: String })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-100, default 20' })
  @ApiQuery({
    name: 'order',
    required: false,
    enum: ['asc', 'desc'],
    description: 'By creation; default desc',
  })
  @ApiResponse({ status: 200, schema: ref('VideoList') })
  @errorResponses(400, 401)
  async list(@Query() query: Record<string, unknown>) {
    const page = await this.jobs.list(this.requests.list(query));
    const data = await Promise.all(page.data.map((j) => this.presenter.present(j)));
    return {
      object: 'list' as const,
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: page.hasMore,
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'Retrieve a video', description: 'Non-terminal: header `openai-poll-after-ms`.' })
  @ApiParam({ name: 'id', example: 'video_01JB7Z3Q8R4N6M2K5X9W0YVT1A' })
  @ApiResponse({ status: 200, schema: ref('Video') })
  @errorResponses(401, 404)
  async retrieve(@Param('id') id: string, @Res({ passthrough: true }) res: HttpReply): Promise<VideoObject> {
    const video = await this.presenter.present(await this.jobs.get(this.requests.id(id)));
    this.presenter.setPollHint(res, video);
    return video;
  }

  @Delete(':id')
  @ApiOperation({
    summary: 'Delete a video',
    description: 'Cancels it if active; removes the record and outputs.',
  })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 200, schema: ref('VideoDeleted') })
  @errorResponses(401, 404)
  async delete(@Param('id') id: string) {
    await this.jobs.delete(this.requests.id(id));
    return { id, object: 'video.deleted' as const, deleted: true as const };
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Cancel a video',
    description: 'Queued or running: becomes `cancelled`; the record stays.',
  })
  @ApiParam({ name: 'id' })
  @ApiResponse({ status: 200, schema: ref('Video') })
  @errorResponses(401, 404, 409)
  async cancel(@Param('id') id: string): Promise<VideoObject> {
    return this.presenter.present(await this.jobs.cancel(this.requests.id(id)));
  }

  @Get(':id/content')
  @ApiOperation({
    summary: 'Download the MP4 or the thumbnail',
    description:
      'HTTP Range supported. Any Accept header is served. With outputs in a bucket this may answer 302 to a ' +
      'presigned URL of the object (T2V_STORAGE_DOWNLOAD=redirect, the default there).',
  })
  @ApiParam({ name: 'id' })
  @ApiQuery({
    name: 'variant',
    required: false,
    enum: ['video', 'thumbnail', 'preview'],
    description:
      'video (MP4, default) and thumbnail (JPEG) once completed; preview: the latest live preview ' +
      '(WebP or JPEG) while the job runs, 409 `no_preview` when there is none.',
  })
  @ApiQuery({
    name: 'step',
    required: false,
    description: 'Ignored: lets each preview URL name one picture.',
  })
  @ApiProduces('video/mp4', 'image/jpeg', 'image/webp')
  @ApiResponse({
    status: 200,
    description: 'The file.',
    content: {
      'video/mp4': { schema: { type: 'string', format: 'binary' } },
      'image/jpeg': { schema: { type: 'string', format: 'binary' } },
      'image/webp': { schema: { type: 'string', format: 'binary' } },
    },
  })
  @ApiResponse({ status: 206, description: 'Partial content (Range).' })
  @ApiResponse({
    status: 302,
    description:
      'With outputs in a bucket and downloads by redirect: `Location` is a short-lived presigned URL of the object ' +
      '(Range requests go there). Clients follow it.',
    headers: { Location: { description: 'Presigned URL of the object.', schema: { type: 'string' } } },
  })
  @errorResponses(400, 401, 404, 409, 416)
  async content(
    @Param('id') id: string,
    @Query('variant') variant: unknown,
    @Req() req: HttpRequest,
    @Res() res: HttpReply,
  ) {
    const which = this.requests.variant(variant);
    const job = await this.jobs.get(this.requests.id(id));
    if (which === 'preview') return this.sendPreview(job, res);
    if (job.status !== 'completed') {
      throw new InvalidJobState(
        'not_ready',
        `Video ${id} is ${job.status}; content exists once it is completed.`,
      );
    }
    if (job.expired) throw new OutputGone(`The outputs of ${id} expired and were deleted.`);
    await this.sendFile(job, which, req, res);
  }

  @Get(':id/events')
  @ApiOperation({
    summary: 'Stream job events (SSE)',
    description:
      'Server-Sent Events; each `data` is the full video object (a VideoPreview for video.preview). Events: video.queued, video.in_progress, ' +
      'video.progress and video.preview, then one of video.completed / video.failed / video.cancelled, after which the stream ends.',
  })
  @ApiParam({ name: 'id' })
  @ApiProduces('text/event-stream')
  @ApiResponse({
    status: 200,
    description: 'An event stream; the schema is that of one event (`VideoStreamEvent`).',
    content: { 'text/event-stream': { schema: ref('VideoStreamEvent') } },
  })
  @errorResponses(401, 404)
  async events(@Param('id') id: string, @Res() res: HttpReply): Promise<void> {
    const job = await this.jobs.get(this.requests.id(id));
    const stream = new JobEventStream(id, {
      events: this.jobEvents,
      jobs: this.jobs,
      presenter: this.presenter,
    });
    await stream.open(job, res);
  }

  /** The latest live preview of a running job, from memory (never from the job record). */
  private async sendPreview(job: Job, res: HttpReply): Promise<void> {
    const preview = job.status === 'in_progress' ? this.jobEvents.previews.get(job.id) : undefined;
    if (!preview) {
      const why =
        job.status !== 'in_progress'
          ? `it is ${job.status} (previews exist while it runs)`
          : (job.params.preview ?? true)
            ? 'none has arrived yet'
            : 'its request turned previews off';
      throw ApiError.conflict('no_preview', `Video ${job.id} has no preview: ${why}.`, 'variant');
    }
    await res
      .headers({
        'content-type': preview.mime,
        'content-length': String(preview.data.length),
        'cache-control': 'no-store',
        't2v-preview-step': `${preview.step}/${preview.total}`,
      })
      .send(preview.data);
  }

  private async sendFile(
    job: Job,
    variant: 'video' | 'thumbnail',
    req: HttpRequest,
    res: HttpReply,
  ): Promise<void> {
    const headers = {
      'content-type': variant === 'video' ? 'video/mp4' : 'image/jpeg',
      'content-disposition': `inline; filename="${job.id}.${variant === 'video' ? 'mp4' : 'jpg'}"`,
      'cache-control': 'private, max-age=3600',
    };
    const missing = () => new OutputGone(`The ${variant} of ${job.id} is missing.`);
    const content = await this.outputs.content(job.id, variant);
    if (!content) throw missing();
    switch (content.kind) {
      case 'file':
        return sendFile(req, res, content.path, headers, missing);
      case 'redirect':
        // The URL expires: neither the redirect nor what it points to may be cached past that.
        await res.code(302).header('location', content.url).header('cache-control', 'no-store').send();
        return;
      case 'stream':
        return sendRange(req, res, content, headers, content.open);
    }
  }
}
