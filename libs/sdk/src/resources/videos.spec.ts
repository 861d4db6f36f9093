import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { T2V } from '../client.js';
import { APIConnectionError, ConflictError, NotFoundError } from '../core/errors.js';
import type { TransportRequest } from '../core/transport.js';
import { errorEnvelope, fakeTransport, videoFixture, type FakeAnswer } from '../testing/fake-transport.js';
import type { Video, VideoPreview } from '../types.js';

function sse(...events: Array<[string, unknown]>): string[] {
  return [': ping\n\n', ...events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)];
}

function route(routes: Record<string, (request: TransportRequest) => FakeAnswer>) {
  return (request: TransportRequest): FakeAnswer => {
    const url = new URL(request.url);
    const key = `${request.method} ${url.pathname}`;
    const handler = routes[key];
    if (!handler) throw new Error(`unexpected ${key}`);
    return handler(request);
  };
}

describe('videos.create', () => {
  it('sends handling and wait in one Prefer header, and exposes adjusted', async () => {
    const adjusted = { size: { requested: '1280x720', used: '1280x704' } };
    const fake = fakeTransport([
      route({ 'POST /v1/videos': () => ({ json: videoFixture({ size: '1280x704', adjusted }) }) }),
    ]);
    const client = new T2V({ transport: fake.transport, env: {} });
    const video = await client.videos.create(
      { prompt: 'a fox', size: '1280x720', user: 'u-1' },
      { handling: 'strict', wait: 5 },
    );
    expect(video.adjusted).toEqual(adjusted);
    expect(fake.requests[0]!.headers['prefer']).toBe('handling=strict, wait=5');
    expect(JSON.parse(String(fake.requests[0]!.body))).toMatchObject({ user: 'u-1', size: '1280x720' });
  });
});

describe('videos.createAndWait', () => {
  it('follows the events stream and reports queue position then progress', async () => {
    const queued = videoFixture({ queue_position: 2 });
    const fake = fakeTransport([
      route({
        'POST /v1/videos': () => ({ json: queued }),
        'GET /v1/videos/video_1/events': () => ({
          headers: { 'content-type': 'text/event-stream' },
          body: sse(
            ['video.queued', videoFixture({ queue_position: 1 })],
            ['video.in_progress', videoFixture({ status: 'in_progress', queue_position: null })],
            ['video.progress', videoFixture({ status: 'in_progress', progress: 50, queue_position: null })],
            ['video.completed', videoFixture({ status: 'completed', progress: 100, queue_position: null })],
          ),
        }),
      }),
    ]);
    const seen: Array<[string, number, number | null, string | undefined]> = [];
    const video = await new T2V({ transport: fake.transport, env: {} }).videos.createAndWait(
      { prompt: 'a fox' },
      { onProgress: (v, event) => seen.push([v.status, v.progress, v.queue_position, event]) },
    );
    expect(video.status).toBe('completed');
    expect(seen).toEqual([
      ['queued', 0, 2, undefined],
      ['queued', 0, 1, 'video.queued'],
      ['in_progress', 0, null, 'video.in_progress'],
      ['in_progress', 50, null, 'video.progress'],
      ['completed', 100, null, 'video.completed'],
    ]);
    const events = fake.requests.find((r) => r.url.endsWith('/events'))!;
    expect(events.headers['accept']).toBe('text/event-stream');
    expect(events.stream).toBe(true);
  });

  it('falls back to polling when the stream is unavailable, honouring openai-poll-after-ms', async () => {
    let polls = 0;
    const fake = fakeTransport([
      route({
        'POST /v1/videos': () => ({ json: videoFixture() }),
        'GET /v1/videos/video_1/events': () => ({
          status: 502,
          body: 'Bad Gateway',
          headers: { 'x-should-retry': 'false' },
        }),
        'GET /v1/videos/video_1': () => {
          polls++;
          if (polls < 3)
            return {
              json: videoFixture({ status: 'in_progress', progress: polls * 40 }),
              headers: { 'openai-poll-after-ms': '150' },
            };
          return { json: videoFixture({ status: 'completed', progress: 100 }) };
        },
      }),
    ]);
    const progress: number[] = [];
    const video = await new T2V({ transport: fake.transport, env: {} }).videos.createAndWait(
      { prompt: 'a fox' },
      { onProgress: (v) => progress.push(v.progress), pollIntervalMs: 10_000 },
    );
    expect(video.status).toBe('completed');
    expect(progress).toEqual([0, 40, 80, 100]);
    const pollTimes = fake.requests
      .map((r, i) => [r, fake.times[i]!] as const)
      .filter(([r]) => r.method === 'GET' && r.url.endsWith('/video_1'))
      .map(([, t]) => t);
    expect(pollTimes[1]! - pollTimes[0]!).toBeGreaterThanOrEqual(140);
    expect(pollTimes[1]! - pollTimes[0]!).toBeLessThan(2000);
  });

  it('falls back to polling when the stream ends before a terminal event', async () => {
    const fake = fakeTransport([
      route({
        'POST /v1/videos': () => ({ json: videoFixture() }),
        'GET /v1/videos/video_1/events': () => ({
          body: sse(['video.in_progress', videoFixture({ status: 'in_progress' })]),
        }),
        'GET /v1/videos/video_1': () => ({
          json: videoFixture({ status: 'failed', error: { code: 'GPU_OOM', message: 'out of memory' } }),
        }),
      }),
    ]);
    const video = await new T2V({ transport: fake.transport, env: {} }).videos.createAndWait({ prompt: 'a' });
    expect(video.status).toBe('failed');
    expect(video.error).toEqual({ code: 'GPU_OOM', message: 'out of memory' });
  });

  it('falls back to polling when the stream breaks with a connection error', async () => {
    const fake = fakeTransport([
      route({
        'POST /v1/videos': () => ({ json: videoFixture() }),
        'GET /v1/videos/video_1/events': () => ({
          body: new Readable({
            read() {
              this.push(sse(['video.in_progress', videoFixture({ status: 'in_progress' })]).join(''));
              this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
            },
          }),
        }),
        'GET /v1/videos/video_1': () => ({ json: videoFixture({ status: 'completed', progress: 100 }) }),
      }),
    ]);
    const statuses: string[] = [];
    const video = await new T2V({ transport: fake.transport, env: {} }).videos.createAndWait(
      { prompt: 'a' },
      { onProgress: (v) => statuses.push(v.status) },
    );
    expect(video.status).toBe('completed');
    expect(statuses).toEqual(['queued', 'in_progress', 'completed']);
  });

  it('returns at once when the create answer is already terminal (cache hit)', async () => {
    const fake = fakeTransport([
      { json: videoFixture({ status: 'completed', progress: 100, cached: true }) },
    ]);
    const video = await new T2V({ transport: fake.transport, env: {} }).videos.createAndWait({
      prompt: 'a',
      seed: 1,
    });
    expect(video.cached).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('polls only when asked to', async () => {
    const fake = fakeTransport([
      route({
        'POST /v1/videos': () => ({ json: videoFixture() }),
        'GET /v1/videos/video_1': () => ({ json: videoFixture({ status: 'cancelled' }) }),
      }),
    ]);
    const video = await new T2V({ transport: fake.transport, env: {} }).videos.createAndWait(
      { prompt: 'a' },
      { polling: true },
    );
    expect(video.status).toBe('cancelled');
  });

  it('wait() on an unknown id throws NotFoundError', async () => {
    const fake = fakeTransport([
      { status: 404, json: errorEnvelope('No video with id video_x', 'not_found_error', 'not_found', 'id') },
    ]);
    await expect(
      new T2V({ transport: fake.transport, env: {} }).videos.wait('video_x'),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('videos.events', () => {
  it('yields typed events, skips unknown names, and stops after the terminal one', async () => {
    const fake = fakeTransport([
      {
        body: [
          ...sse(['video.progress', videoFixture({ progress: 10 })]),
          'event: something.else\ndata: {}\n\n',
          ...sse(
            ['video.cancelled', videoFixture({ status: 'cancelled' })],
            ['video.progress', videoFixture({ progress: 99 })],
          ),
        ],
      },
    ]);
    const names: string[] = [];
    for await (const { event, data } of new T2V({ transport: fake.transport, env: {} }).videos.events(
      'video_1',
    )) {
      names.push(`${event}:${(data as Video).status}`);
    }
    expect(names).toEqual(['video.progress:queued', 'video.cancelled:cancelled']);
  });

  it('yields video.preview typed only when asked, and the waiter hands previews to onPreview', async () => {
    const preview: VideoPreview = {
      object: 'video.preview',
      video_id: 'video_1',
      step: 2,
      total: 4,
      url: '/v1/videos/video_1/content?variant=preview&step=2',
      content_type: 'image/webp',
      width: 640,
      height: 352,
      created_at: 1,
    };
    const body = () =>
      sse(
        ['video.in_progress', videoFixture({ status: 'in_progress', progress: 25 })],
        ['video.preview', preview],
        ['video.completed', videoFixture({ status: 'completed', progress: 100 })],
      );
    const fake = fakeTransport([{ body: body() }, { body: body() }, { body: body() }]);
    const client = new T2V({ transport: fake.transport, env: {} });
    const plain: string[] = [];
    for await (const { event } of client.videos.events('video_1')) plain.push(event);
    expect(plain).toEqual(['video.in_progress', 'video.completed']);
    const all: Array<string | number> = [];
    for await (const message of client.videos.events('video_1', { previews: true })) {
      all.push(message.event === 'video.preview' ? message.data.step : message.data.status);
    }
    expect(all).toEqual(['in_progress', 2, 'completed']);
    const seen: VideoPreview[] = [];
    const statuses: string[] = [];
    const done = await client.videos.wait('video_1', {
      onPreview: (p) => seen.push(p),
      onProgress: (v) => statuses.push(v.status),
    });
    expect(done.status).toBe('completed');
    expect(seen).toEqual([preview]);
    expect(statuses).toEqual(['in_progress', 'completed']);
  });

  it('turns malformed data into APIConnectionError', async () => {
    const fake = fakeTransport([{ body: 'event: video.progress\ndata: {not json\n\n' }]);
    const iterate = async () => {
      for await (const _ of new T2V({ transport: fake.transport, env: {} }).videos.events('video_1')) void _;
    };
    await expect(iterate()).rejects.toBeInstanceOf(APIConnectionError);
  });
});

describe('videos.retrieve / list / delete / cancel', () => {
  it('uses the documented methods and paths and escapes ids', async () => {
    const fake = fakeTransport([
      route({
        'GET /v1/videos/a%2Fb': () => ({ json: videoFixture() }),
        'DELETE /v1/videos/video_1': () => ({
          json: { id: 'video_1', object: 'video.deleted', deleted: true },
        }),
        'POST /v1/videos/video_1/cancel': () => ({ json: videoFixture({ status: 'cancelled' }) }),
      }),
    ]);
    const client = new T2V({ transport: fake.transport, env: {} });
    await client.videos.retrieve('a/b');
    expect(await client.videos.delete('video_1')).toEqual({
      id: 'video_1',
      object: 'video.deleted',
      deleted: true,
    });
    expect((await client.videos.cancel('video_1')).status).toBe('cancelled');
  });
});

describe('videos.content / downloadTo', () => {
  const mp4 = Buffer.from('\x00\x00\x00\x18ftypmp42 fake mp4 bytes', 'latin1');

  it('streams the bytes with variant and the binary accept header', async () => {
    const fake = fakeTransport([
      {
        headers: { 'content-type': 'image/jpeg', 'content-length': String(mp4.length) },
        body: [mp4.subarray(0, 5), mp4.subarray(5)],
      },
    ]);
    const content = await new T2V({ transport: fake.transport, env: {} }).videos.content('video_1', {
      variant: 'thumbnail',
    });
    expect(content.contentType).toBe('image/jpeg');
    expect(content.contentLength).toBe(mp4.length);
    expect((await content.buffer()).equals(mp4)).toBe(true);
    const url = new URL(fake.requests[0]!.url);
    expect(url.pathname).toBe('/v1/videos/video_1/content');
    expect(url.searchParams.get('variant')).toBe('thumbnail');
    expect(fake.requests[0]!.headers['accept']).toBe('application/binary');
  });

  it('maps 409 video_not_ready to ConflictError', async () => {
    const fake = fakeTransport([
      { status: 409, json: errorEnvelope('Video video_1 is not ready', 'conflict_error', 'video_not_ready') },
    ]);
    const error = await new T2V({ transport: fake.transport, maxRetries: 0, env: {} }).videos
      .content('video_1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).code).toBe('video_not_ready');
  });

  it('writes the file atomically and leaves no temp files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 't2v-sdk-'));
    const fake = fakeTransport([
      { headers: { 'content-type': 'video/mp4', 'content-length': String(mp4.length) }, body: [mp4] },
    ]);
    const result = await new T2V({ transport: fake.transport, env: {} }).videos.downloadTo(
      'video_1',
      join(dir, 'out.mp4'),
    );
    expect(result).toMatchObject({ path: join(dir, 'out.mp4'), bytes: mp4.length, contentType: 'video/mp4' });
    expect(readFileSync(join(dir, 'out.mp4')).equals(mp4)).toBe(true);
    expect(readdirSync(dir)).toEqual(['out.mp4']);
  });

  it('removes the temp file and keeps an existing target when the body is truncated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 't2v-sdk-'));
    const target = join(dir, 'out.mp4');
    await new T2V({ transport: fakeTransport([{ body: 'old' }]).transport, env: {} }).videos.downloadTo(
      'video_1',
      target,
    );
    const fake = fakeTransport([{ headers: { 'content-length': '1000' }, body: [mp4] }]);
    await expect(
      new T2V({ transport: fake.transport, env: {} }).videos.downloadTo('video_1', target),
    ).rejects.toThrow(/truncated/);
    expect(readdirSync(dir)).toEqual(['out.mp4']);
    expect(readFileSync(target, 'utf8')).toBe('old');
  });
});

describe('models.list', () => {
  it('returns the list with presets', async () => {
    const model = {
      id: 'synthetic',
      object: 'model',
      created: 1,
      owned_by: 't2v',
      engine: 'synthetic',
      presets: {
        sizes: ['256x256'],
        default_size: '256x256',
        fps: 8,
        seconds: { min: 1, max: 4, default: 1 },
        num_inference_steps: { min: 1, max: 50, default: 4 },
        guidance_scale: { min: 0, max: 20, default: 5 },
        max_prompt_length: 2000,
      },
    };
    const fake = fakeTransport([{ json: { object: 'list', data: [model] } }]);
    const list = await new T2V({ transport: fake.transport, env: {} }).models.list();
    expect(list.data[0]!.presets.sizes).toEqual(['256x256']);
    expect(new URL(fake.requests[0]!.url).pathname).toBe('/v1/models');
  });
});
