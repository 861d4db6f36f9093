import { Readable } from 'node:stream';

import type { Transport, TransportRequest, TransportResponse, Video } from '@t2v/sdk';
import { assertSpecKeys, enumOf, modelPresets, readSpec, specLimits } from '@t2v/testing/openapi-presets';

/** Behaviour switches of the fake API. */
export interface FakeApiOptions {
  /** Final status of generated videos. */
  outcome?: 'completed' | 'failed';
  /** Answer requests without this bearer key with 401. */
  requireKey?: string;
  /** The events stream sends the queued event, then stays open forever. */
  hang?: boolean;
}

/** The committed OpenAPI document: the fake's model, limits and error vocabulary come from it. */
const SPEC = readSpec();
const LIMITS = specLimits(SPEC);
/** The served model as the fake lists it: the spec's limits with the synthetic engine's defaults. */
export const FAKE_MODEL = {
  id: LIMITS.model,
  object: 'model',
  created: 1,
  owned_by: 't2v',
  engine: 'synthetic',
  description: 'test pattern',
  alias_for: null,
  aliases: [],
  presets: modelPresets(
    { default_size: '320x192', fps: 24, seconds: 1, num_inference_steps: 8, guidance_scale: 5 },
    SPEC,
  ),
  acceleration: { compile: 'off', cache: 'off', attention: null, parallel: 'off', weights: null },
  profile: null,
  inputs: ['text', 'image'],
  loras: [],
  card: { source: 'worker', published_at: 1, published_by: 'fake-api/cpu-0' },
};
assertSpecKeys(SPEC, 'Model', FAKE_MODEL);
const ERROR_TYPES = enumOf(SPEC, 'ErrorResponse', 'error', 'type');
const ERROR_CODES = enumOf(SPEC, 'ErrorResponse', 'error', 'code');
const SIZES = FAKE_MODEL.presets.sizes;

/**
 * A create's fields: JSON, or multipart/form-data read with the platform's parser (text parts as
 * strings, the file part as a `File`), as the server would see them.
 */
export async function createBody(request: TransportRequest): Promise<Record<string, unknown>> {
  const type = request.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data'))
    return JSON.parse(String(request.body)) as Record<string, unknown>;
  const form = await new Response(request.body as Uint8Array, {
    headers: { 'content-type': type },
  }).formData();
  return Object.fromEntries(form.entries());
}

/**
 * An in-memory t2v API behind the SDK's transport seam: enough of the routes for the CLI's
 * commands, with the real error envelope and an events stream that walks a job to its end.
 */
export function fakeApi(options: FakeApiOptions = {}) {
  const videos = new Map<string, Video>();
  let next = 1;
  const requests: TransportRequest[] = [];

  const json = (status: number, body: unknown, headers: Record<string, string> = {}): TransportResponse => ({
    status,
    headers: { 'content-type': 'application/json', 'x-request-id': `req_${requests.length}`, ...headers },
    body: Readable.from([Buffer.from(JSON.stringify(body))]),
  });
  const error = (
    status: number,
    message: string,
    type: string,
    code: string,
    param: string | null = null,
  ) => {
    if (!ERROR_TYPES.includes(type) || !ERROR_CODES.includes(code))
      throw new Error(`the spec's ErrorResponse has no type '${type}' or code '${code}'`);
    return json(status, { error: { message, type, param, code } });
  };

  const make = (prompt: string, size: string, steps: number): Video => ({
    id: `video_${String(next++).padStart(3, '0')}`,
    object: 'video',
    model: FAKE_MODEL.id,
    status: 'queued',
    progress: 0,
    created_at: 1_800_000_000 + next,
    completed_at: null,
    expires_at: null,
    prompt,
    seconds: '1',
    size,
    error: null,
    seed: 7,
    negative_prompt: null,
    num_inference_steps: steps,
    guidance_scale: 5,
    flow_shift: null,
    fps: 8,
    num_frames: 9,
    queue_position: 2,
    queue_reason: null,
    cached: false,
    metadata: {},
    user: null,
    adjusted: {},
    preview: true,
    input_reference: null,
    lora: [],
    timings: { queue_s: null, load_s: null, inference_s: null, encode_s: null },
    acceleration: {
      requested: 'auto',
      cache: null,
      compile: null,
      attention: null,
      transformer_passes: null,
      planned_passes: null,
      weights: null,
    },
  });

  const transport: Transport = async (request) => {
    requests.push(request);
    if (options.requireKey && request.headers['authorization'] !== `Bearer ${options.requireKey}`) {
      return error(401, 'Invalid or missing API key.', 'authentication_error', 'invalid_api_key');
    }
    const url = new URL(request.url);
    const parts = url.pathname.split('/').filter(Boolean); // v1, videos, id, sub
    const key = `${request.method} /${parts.slice(0, 2).join('/')}${parts[2] ? '/:id' : ''}${parts[3] ? `/${parts[3]}` : ''}`;
    const video = parts[2] ? videos.get(parts[2]) : undefined;
    if (parts[2] && !video && key !== 'GET /v1/models/:id') {
      return error(404, `No video with id '${parts[2]}'.`, 'not_found_error', 'not_found', 'id');
    }
    switch (key) {
      case 'GET /v1/models':
        return json(200, { object: 'list', data: [FAKE_MODEL] });
      case 'GET /v1/usage': {
        const groupBy = (url.searchParams.get('group_by') ?? 'caller,model').split(',');
        const figures = (gpu: number) => ({
          jobs: { completed: 2, failed: 1, cancelled: 0, total: 3 },
          output_seconds: 10.5,
          frames: 252,
          gpu_seconds: gpu,
        });
        const row = (caller: string, gpu: number) => ({
          ...(groupBy.includes('caller') ? { caller } : {}),
          ...(groupBy.includes('model') ? { model: FAKE_MODEL.id } : {}),
          ...(groupBy.includes('day') ? { day: '2026-12-06' } : {}),
          ...figures(gpu),
        });
        const report = {
          object: 'usage',
          start: url.searchParams.get('start') ?? '2026-11-06T00:00:00.000Z',
          end: url.searchParams.get('end') ?? '2026-12-06T00:00:00.000Z',
          group_by: groupBy,
          data: [row('key:alice', 12.25), row('key:b,"quoted"', 3)],
          total: figures(15.25),
        };
        assertSpecKeys(SPEC, 'UsageReport', report);
        return json(200, report);
      }
      case 'POST /v1/videos': {
        const body = (await createBody(request)) as {
          prompt: string;
          size?: string;
          num_inference_steps?: number;
        };
        const size = body.size ?? FAKE_MODEL.presets.default_size;
        if (!SIZES.includes(size)) {
          return error(
            400,
            `Unsupported size '${size}'. Supported sizes: ${SIZES.join(', ')}.`,
            'invalid_request_error',
            'unsupported_size',
            'size',
          );
        }
        const created = make(body.prompt, size, body.num_inference_steps ?? 4);
        assertSpecKeys(SPEC, 'Video', created);
        videos.set(created.id, created);
        return json(200, created);
      }
      case 'GET /v1/videos': {
        const data = [...videos.values()].reverse();
        return json(200, {
          object: 'list',
          data,
          first_id: data[0]?.id ?? null,
          last_id: data.at(-1)?.id ?? null,
          has_more: false,
        });
      }
      case 'GET /v1/videos/:id':
        return json(200, video);
      case 'GET /v1/videos/:id/events': {
        const v = video!;
        if (options.hang) {
          const body = new Readable({ read() {} });
          body.push(`event: video.queued\ndata: ${JSON.stringify(v)}\n\n`);
          request.signal?.addEventListener('abort', () => body.destroy(new Error('aborted')));
          return { status: 200, headers: { 'content-type': 'text/event-stream' }, body };
        }
        const frames: Array<[string, Video]> = [['video.queued', { ...v, queue_position: 1 }]];
        for (let step = 0; step <= (v.num_inference_steps ?? 4); step++) {
          const progress = Math.round((step / (v.num_inference_steps ?? 4)) * 99);
          frames.push([
            step === 0 ? 'video.in_progress' : 'video.progress',
            { ...v, status: 'in_progress', queue_position: null, progress },
          ]);
        }
        const final: Video =
          options.outcome === 'failed'
            ? {
                ...v,
                status: 'failed',
                queue_position: null,
                error: { code: 'GPU_OOM', message: 'CUDA out of memory' },
              }
            : { ...v, status: 'completed', progress: 100, queue_position: null, completed_at: 1_800_000_100 };
        videos.set(v.id, final);
        frames.push([`video.${final.status}`, final]);
        const text = frames.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
        return {
          status: 200,
          headers: { 'content-type': 'text/event-stream' },
          body: Readable.from(text.map((t) => Buffer.from(t))),
        };
      }
      case 'GET /v1/videos/:id/content': {
        if (video!.status !== 'completed') {
          return error(
            409,
            `Video ${video!.id} is ${video!.status}; content exists once it is completed.`,
            'conflict_error',
            'video_not_ready',
          );
        }
        const thumb = url.searchParams.get('variant') === 'thumbnail';
        const bytes = Buffer.from(thumb ? 'ffd8ffe0 fake jpeg' : 'fake mp4 bytes for ' + video!.id);
        return {
          status: 200,
          headers: {
            'content-type': thumb ? 'image/jpeg' : 'video/mp4',
            'content-length': String(bytes.length),
          },
          body: Readable.from([bytes]),
        };
      }
      case 'POST /v1/videos/:id/cancel': {
        const cancelled: Video = { ...video!, status: 'cancelled', queue_position: null };
        videos.set(cancelled.id, cancelled);
        return json(200, cancelled);
      }
      case 'DELETE /v1/videos/:id':
        videos.delete(video!.id);
        return json(200, { id: video!.id, object: 'video.deleted', deleted: true });
      default:
        return error(404, `Cannot ${request.method} ${url.pathname}`, 'not_found_error', 'not_found');
    }
  };
  return { transport, requests, videos };
}
