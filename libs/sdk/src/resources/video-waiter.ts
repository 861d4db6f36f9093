import type { APIClient, RequestOptions } from '../core/api-client.js';
import { APIError, APIUserAbortError } from '../core/errors.js';
import { sleep } from '../core/sleep.js';
import { isTerminalStatus, type Video, type VideoEventName } from '../types.js';
import type { Videos } from './videos.js';

/** Options of `videos.wait()` and `videos.createAndWait()`. */
export interface WaitOptions extends RequestOptions {
  /** Called with the video object whenever it changes (queue position, status, progress). */
  onProgress?: (video: Video, event?: VideoEventName) => void;
  /** Poll interval (ms) when polling and the server gives no `openai-poll-after-ms` hint. Default 1000. */
  pollIntervalMs?: number;
  /** Skip the events stream and poll from the start. */
  polling?: boolean;
}

const MIN_POLL_MS = 50;
const MAX_POLL_MS = 30_000;

/**
 * Follows the events stream while it works, then polls. The stream is preferred because it
 * reports every step at once; polling is the fallback for servers or proxies without SSE.
 */
export async function waitForVideo(
  videos: Videos,
  client: APIClient,
  id: string,
  initial: Video | undefined,
  options: WaitOptions,
): Promise<Video> {
  const { onProgress, pollIntervalMs = 1000, polling = false, ...request } = options;
  let last = initial;
  const report = (video: Video, event?: VideoEventName) => {
    last = video;
    onProgress?.(video, event);
  };
  if (initial) {
    report(initial);
    if (isTerminalStatus(initial.status)) return initial;
  }

  if (!polling) {
    try {
      for await (const { event, data } of videos.events(id, { ...request, maxRetries: 0 })) {
        report(data, event);
        if (isTerminalStatus(data.status)) return data;
      }
    } catch (error) {
      if (error instanceof APIUserAbortError) throw error;
      // A 404 means the video itself is gone (the events route exists on every t2v server).
      if (error instanceof APIError && error.status === 404 && last === undefined) throw error;
      // Otherwise fall through to polling: the stream is an optimisation, not a requirement.
    }
  }

  for (;;) {
    const response = await client.json<Video>(
      { method: 'GET', path: `/v1/videos/${encodeURIComponent(id)}` },
      request,
    );
    const video = response.data;
    if (
      !last ||
      last.status !== video.status ||
      last.progress !== video.progress ||
      last.queue_position !== video.queue_position ||
      last.queue_reason !== video.queue_reason
    ) {
      report(video);
    }
    if (isTerminalStatus(video.status)) return video;
    const hint = Number(response.headers['openai-poll-after-ms']);
    const delay = Number.isFinite(hint) && hint > 0 ? hint : pollIntervalMs;
    await sleep(Math.min(Math.max(delay, MIN_POLL_MS), MAX_POLL_MS), request.signal);
  }
}
