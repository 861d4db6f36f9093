import { APIClient } from './core/api-client.js';
import { createGotTransport, type GotTransportOptions } from './core/got-transport.js';
import type { Transport } from './core/transport.js';
import { Models } from './resources/models.js';
import { Usage } from './resources/usage.js';
import { Videos } from './resources/videos.js';
import { VERSION } from './version.js';

/** Options of the {@link T2V} client. Every one is optional. */
export interface ClientOptions {
  /**
   * Server root, e.g. `http://localhost:8080` (a trailing `/v1` is accepted and ignored).
   * Defaults to `T2V_BASE_URL`, then `http://localhost:8080`.
   */
  baseURL?: string;
  /** Sent as `Authorization: Bearer <key>`. Defaults to `T2V_API_KEY`; none when unset. */
  apiKey?: string;
  /** Per-request timeout in ms (for streams: wait for headers and idle gaps). Default 60 000. */
  timeout?: number;
  /** Retries after the first attempt, for 408/409/429/5xx and connection errors. Default 2. */
  maxRetries?: number;
  /** Headers sent with every request. */
  defaultHeaders?: Record<string, string>;
  /** Agents for the default transport: keep-alive tuning, proxies. */
  agent?: GotTransportOptions['agent'];
  /** Replaces the HTTP layer entirely (tests, custom networking); `agent` is then unused. */
  transport?: Transport;
  /** Environment to read `T2V_BASE_URL` and `T2V_API_KEY` from; `process.env` by default. */
  env?: Record<string, string | undefined>;
}

/** Default server root when neither `baseURL` nor `T2V_BASE_URL` is set. */
export const DEFAULT_BASE_URL = 'http://localhost:8080';
/** Default per-request timeout (ms). */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Default number of retries. */
export const DEFAULT_MAX_RETRIES = 2;

/**
 * Client of the t2v API.
 *
 * ```ts
 * const client = new T2V({ baseURL: 'http://localhost:8080' });
 * const video = await client.videos.createAndWait({ prompt: 'a red fox in snow' });
 * await client.videos.downloadTo(video.id, 'fox.mp4');
 * ```
 */
export class T2V {
  /** Video jobs: create, retrieve, list, cancel, delete, wait, events, content, download. */
  readonly videos: Videos;
  /** Served models and their presets. */
  readonly models: Models;
  /** What callers used (a key with the admin scope). */
  readonly usage: Usage;
  /** The resolved server root, without a trailing slash. */
  readonly baseURL: string;
  /** The resolved per-request timeout (ms). */
  readonly timeout: number;
  /** The resolved number of retries. */
  readonly maxRetries: number;

  /** @param options see {@link ClientOptions}; environment variables fill what is not given. */
  constructor(options: ClientOptions = {}) {
    const env = options.env ?? process.env;
    this.baseURL = normaliseBaseURL(options.baseURL ?? env['T2V_BASE_URL'] ?? DEFAULT_BASE_URL);
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    const apiKey = options.apiKey ?? (env['T2V_API_KEY'] || undefined);
    const core = new APIClient({
      baseURL: this.baseURL,
      apiKey,
      timeout: this.timeout,
      maxRetries: this.maxRetries,
      defaultHeaders: options.defaultHeaders ?? {},
      transport: options.transport ?? createGotTransport({ agent: options.agent }),
      userAgent: `t2v-sdk/${VERSION} node/${process.versions.node}`,
    });
    this.videos = new Videos(core);
    this.models = new Models(core);
    this.usage = new Usage(core);
  }
}

function normaliseBaseURL(raw: string): string {
  let url = raw.trim().replace(/\/+$/, '');
  if (url.endsWith('/v1')) url = url.slice(0, -3);
  try {
    new URL(url);
  } catch {
    throw new TypeError(`Invalid baseURL: ${JSON.stringify(raw)}`);
  }
  return url;
}
