import {
  APIConnectionError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  RateLimitError,
  ServiceUnavailableError,
  type Video,
  type VideoStatus,
} from '@t2v/sdk';

const STATUS_LABEL: Record<VideoStatus, string> = {
  queued: 'Queued',
  in_progress: 'Rendering',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

const ENGINE_NOTE: Record<string, string> = {
  synthetic: 'test pattern, not a real model',
  'wan-tiny': 'real Wan pipeline with tiny random weights: expect noise, not pictures',
};

/** The model line: which model and engine are loaded, and what a test engine's output will be. */
export function modelLine(model: { id: string; engine: string }): string {
  const note = ENGINE_NOTE[model.engine];
  return `${model.id} · ${model.engine}${note ? ` (${note})` : ''}`;
}

/** The word shown on a status badge. */
export function statusLabel(status: VideoStatus): string {
  return STATUS_LABEL[status] ?? status;
}

/** Why a queued job waits, in words (`queue_reason`). */
const WAITING_FOR: Record<string, string> = {
  gpu_capacity: 'waiting for a GPU to start',
  workers_busy: 'workers busy',
  workers_failed: 'no worker can run it (see /readyz)',
};

/** One line on where a job stands: queue position and why it waits, denoising step, or how it ended. */
export function progressDetail(video: Video): string {
  switch (video.status) {
    case 'queued': {
      const where = video.queue_position
        ? `position ${video.queue_position} in the queue`
        : 'waiting for a worker';
      const why = video.queue_reason ? WAITING_FOR[video.queue_reason] : undefined;
      return why ? `${where} · ${why}` : where;
    }
    case 'in_progress': {
      const total = video.num_inference_steps;
      const step = total ? Math.round((video.progress / 100) * total) : undefined;
      return step !== undefined ? `step ${step} of ${total} · ${video.progress}%` : `${video.progress}%`;
    }
    case 'completed': {
      const t = video.timings;
      const parts = [`${video.size}`, `${video.seconds} s`, `${video.fps} fps`];
      if (t?.inference_s != null) parts.push(`inference ${t.inference_s.toFixed(1)} s`);
      if (video.input_reference) parts.push('from an image');
      if (video.cached) parts.push('from cache');
      return parts.join(' · ');
    }
    case 'failed':
      return video.error ? `${video.error.code}` : '';
    case 'cancelled':
      return '';
  }
}

/** `12.3 s` or `2 min 05 s`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${String(Math.floor(seconds % 60)).padStart(2, '0')} s`;
}

/** Seconds since the job was created, or its whole run once it ended. */
export function elapsedSeconds(video: Video, now = Date.now()): number {
  const end = video.completed_at ? video.completed_at * 1000 : now;
  return Math.max(0, (end - video.created_at * 1000) / 1000);
}

/** What the page says about a failed call: the API's own message, plus what to do about it. */
export interface DescribedError {
  message: string;
  /** The request field the API blamed (`size`, `num_inference_steps`, …). */
  param?: string;
  /** The server wants a (different) key. */
  needsKey: boolean;
}

export function describeError(error: unknown): DescribedError {
  if (error instanceof APIUserAbortError) return { message: 'Stopped.', needsKey: false };
  if (error instanceof APIConnectionError) {
    return {
      message: `Cannot reach the server (${error.message}). Check that it is running.`,
      needsKey: false,
    };
  }
  if (error instanceof APIError) {
    let message = error.message;
    if (error instanceof RateLimitError || error instanceof ServiceUnavailableError) {
      const after = retryAfterSeconds(error.headers?.['retry-after']);
      if (after !== undefined) message += ` Try again in ${after} s.`;
    }
    if (error.requestId) message += ` (request ${error.requestId})`;
    return { message, param: error.param ?? undefined, needsKey: error instanceof AuthenticationError };
  }
  return { message: error instanceof Error ? error.message : String(error), needsKey: false };
}

function retryAfterSeconds(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value));
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
