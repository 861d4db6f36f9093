import { type RequestOptions, toClientError } from '../core/api-client.js';
import { BinaryResponse } from '../core/binary-response.js';
import { type DownloadResult, writeAtomically } from '../core/download.js';
import { APIConnectionError } from '../core/errors.js';
import { type CursorPageBody, PagePromise } from '../core/pagination.js';
import { APIResource } from '../core/resource.js';
import { parseSSE } from '../core/sse.js';
import { encodeMultipart, isDataURL, toFilePart } from '../core/uploads.js';
import type {
  Video,
  VideoContentVariant,
  VideoCreateParams,
  VideoDeleted,
  VideoEvent,
  VideoEventName,
  VideoListParams,
  VideoPreview,
  VideoPreviewEvent,
} from '../types.js';
import { type WaitOptions, waitForVideo } from './video-waiter.js';

/** Options of `videos.create()`. */
export interface VideoCreateOptions extends RequestOptions {
  /**
   * `Idempotency-Key` for this create. One is generated per call when omitted, and every retry
   * of the call reuses it, so a retried create never makes two jobs.
   */
  idempotencyKey?: string;
  /**
   * Ask the server to hold the answer up to this many seconds for the job to finish
   * (`Prefer: wait=N`). The request timeout is raised to cover it.
   */
  wait?: number;
  /**
   * `strict`: a size or frame count off the model's grid is a `BadRequestError` naming the field
   * instead of being snapped (`Prefer: handling=strict`); `lenient` asks for snapping on a server
   * whose default is strict. Snapped values are reported in `video.adjusted`.
   */
  handling?: 'strict' | 'lenient';
}

/** Options of `videos.content()` and `videos.downloadTo()`. */
export interface VideoContentOptions extends RequestOptions {
  /**
   * `video` (MP4, the default) or `thumbnail` (JPEG) of a completed video; `preview`: the latest
   * live preview (WebP or JPEG) while it runs.
   */
  variant?: VideoContentVariant;
}

/** Options of `videos.events()`. */
export interface VideoEventsOptions extends RequestOptions {
  /** Also yield `video.preview` messages (a {@link VideoPreviewEvent} each). Default false. */
  previews?: boolean;
}

/** Options of `videos.createAndWait()`. */
export type CreateAndWaitOptions = WaitOptions & Pick<VideoCreateOptions, 'idempotencyKey' | 'handling'>;

const EVENT_NAMES: ReadonlySet<string> = new Set<VideoEventName>([
  'video.queued',
  'video.in_progress',
  'video.progress',
  'video.completed',
  'video.failed',
  'video.cancelled',
]);

/** SSE messages from a body; read failures become the client's error classes. */
async function* readEvents(body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined) {
  try {
    yield* parseSSE(body);
  } catch (error) {
    throw toClientError(error, signal);
  }
}

/** `/v1/videos`: create, inspect, wait for, download and remove video jobs. */
export class Videos extends APIResource {
  /** Creates a video job; resolves with the video object (status `queued` unless `wait` was given). */
  async create(params: VideoCreateParams, options: VideoCreateOptions = {}): Promise<Video> {
    const { idempotencyKey, wait, handling, ...request } = options;
    const headers: Record<string, string> = {};
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    const prefer = [handling !== undefined && `handling=${handling}`, wait !== undefined && `wait=${wait}`];
    if (prefer.some(Boolean)) headers['prefer'] = prefer.filter(Boolean).join(', ');
    const timeout =
      wait !== undefined ? Math.max(request.timeout ?? 0, wait * 1000 + 30_000) : request.timeout;
    const { input_reference: image, ...fields } = params;
    // A file travels as multipart/form-data (as the OpenAI clients send it); a data: URL in JSON.
    const body =
      image === undefined || isDataURL(image)
        ? { body: params }
        : {
            multipart: encodeMultipart(fields, {
              input_reference: await toFilePart(image, 'input_reference'),
            }),
          };
    const response = await this._client.json<Video>(
      { method: 'POST', path: '/v1/videos', ...body, headers, idempotent: true },
      { ...request, ...(timeout !== undefined ? { timeout } : {}) },
    );
    return response.data;
  }

  /** Fetches a video object by id. */
  async retrieve(id: string, options: RequestOptions = {}): Promise<Video> {
    return (
      await this._client.json<Video>({ method: 'GET', path: `/v1/videos/${encodeURIComponent(id)}` }, options)
    ).data;
  }

  /**
   * Lists videos, newest first by default. Await it for the first page, or iterate it with
   * `for await (const video of client.videos.list())` to walk every page.
   */
  list(params: VideoListParams = {}, options: RequestOptions = {}): PagePromise<Video> {
    return new PagePromise<Video>(
      params,
      async (query, opts) =>
        (
          await this._client.json<CursorPageBody<Video>>(
            {
              method: 'GET',
              path: '/v1/videos',
              query: { after: query.after, limit: query.limit, order: query.order },
            },
            opts,
          )
        ).data,
      options,
    );
  }

  /** Cancels the job if it is running or queued, then removes the record and its files. */
  async delete(id: string, options: RequestOptions = {}): Promise<VideoDeleted> {
    return (
      await this._client.json<VideoDeleted>(
        { method: 'DELETE', path: `/v1/videos/${encodeURIComponent(id)}` },
        options,
      )
    ).data;
  }

  /** Cancels the job and keeps the record; resolves with the video (status `cancelled`). */
  async cancel(id: string, options: RequestOptions = {}): Promise<Video> {
    return (
      await this._client.json<Video>(
        { method: 'POST', path: `/v1/videos/${encodeURIComponent(id)}/cancel` },
        options,
      )
    ).data;
  }

  /**
   * Opens the bytes of a completed video (or its thumbnail) as a stream. Before completion the
   * API answers 409 `video_not_ready` (a `ConflictError`). Pass `headers: { range: 'bytes=0-99' }`
   * for a part of the MP4.
   */
  async content(id: string, options: VideoContentOptions = {}): Promise<BinaryResponse> {
    const { variant, ...request } = options;
    const response = await this._client.send(
      {
        method: 'GET',
        path: `/v1/videos/${encodeURIComponent(id)}/content`,
        query: { variant },
        accept: 'application/binary',
        stream: true,
      },
      request,
    );
    return new BinaryResponse(response);
  }

  /** Downloads a completed video (or its thumbnail) to `path`, atomically (temp file, fsync, rename). */
  async downloadTo(id: string, path: string, options: VideoContentOptions = {}): Promise<DownloadResult> {
    return writeAtomically(await this.content(id, options), path, options.signal);
  }

  /**
   * Follows `GET /v1/videos/{id}/events`: yields each event with the full video object, and ends
   * after the terminal one (`video.completed`, `video.failed`, `video.cancelled`). With
   * `previews: true` it also yields each `video.preview` (fetch the picture with
   * `content(id, { variant: 'preview' })`). Breaking out of the loop closes the connection.
   */
  events(
    id: string,
    options: VideoEventsOptions & { previews: true },
  ): AsyncGenerator<VideoEvent | VideoPreviewEvent>;
  events(id: string, options?: VideoEventsOptions & { previews?: false }): AsyncGenerator<VideoEvent>;
  events(id: string, options: VideoEventsOptions): AsyncGenerator<VideoEvent | VideoPreviewEvent>;
  async *events(
    id: string,
    options: VideoEventsOptions = {},
  ): AsyncGenerator<VideoEvent | VideoPreviewEvent> {
    const { previews = false, ...request } = options;
    yield* this.stream(id, previews, request);
  }

  private async *stream(
    id: string,
    previews: boolean,
    options: RequestOptions,
  ): AsyncGenerator<VideoEvent | VideoPreviewEvent> {
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await this._client.send(
        {
          method: 'GET',
          path: `/v1/videos/${encodeURIComponent(id)}/events`,
          accept: 'text/event-stream',
          stream: true,
        },
        {
          ...options,
          signal: options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal,
        },
      );
      try {
        for await (const message of readEvents(response.body, options.signal)) {
          const preview = message.event === 'video.preview';
          if (preview ? !previews : !EVENT_NAMES.has(message.event)) continue;
          let data: Video | VideoPreview;
          try {
            data = JSON.parse(message.data) as Video | VideoPreview;
          } catch (error) {
            throw new APIConnectionError(`Malformed event data for ${message.event}.`, { cause: error });
          }
          if (preview) {
            yield { event: 'video.preview', data: data as VideoPreview };
            continue;
          }
          yield { event: message.event as VideoEventName, data: data as Video };
          if (
            message.event === 'video.completed' ||
            message.event === 'video.failed' ||
            message.event === 'video.cancelled'
          ) {
            return;
          }
        }
      } finally {
        response.body.destroy();
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      controller.abort();
    }
  }

  /**
   * Waits until the video is terminal and resolves with it, whatever its final status (check
   * `status` and `error`). Follows the events stream; if that is unavailable or drops, polls,
   * honouring the server's `openai-poll-after-ms` hint.
   */
  wait(id: string, options: WaitOptions = {}): Promise<Video> {
    return waitForVideo(this, this._client, id, undefined, options);
  }

  /**
   * Creates a video and waits for it to finish: `create()` then `wait()`. `onProgress` sees the
   * created object first (queue position), then every update. Resolves with the terminal video.
   */
  async createAndWait(params: VideoCreateParams, options: CreateAndWaitOptions = {}): Promise<Video> {
    const { idempotencyKey, handling, ...wait } = options;
    const created = await this.create(params, {
      signal: wait.signal,
      timeout: wait.timeout,
      maxRetries: wait.maxRetries,
      headers: wait.headers,
      ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      ...(handling !== undefined ? { handling } : {}),
    });
    return waitForVideo(this, this._client, created.id, created, wait);
  }
}
