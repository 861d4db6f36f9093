import { readFileSync } from 'node:fs';

import { T2V } from './client.js';
import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  RateLimitError,
  ServiceUnavailableError,
} from './core/errors.js';
import { errorEnvelope, fakeTransport, videoFixture } from './testing/fake-transport.js';
import { VERSION } from './version.js';

const fast = { retry: { 'retry-after-ms': '1' } };

describe('T2V client options', () => {
  it('reads T2V_BASE_URL and T2V_API_KEY when options are absent', async () => {
    const fake = fakeTransport([{ json: videoFixture() }]);
    const client = new T2V({
      transport: fake.transport,
      env: { T2V_BASE_URL: 'http://api.test:9000/v1/', T2V_API_KEY: 'sk-env' },
    });
    expect(client.baseURL).toBe('http://api.test:9000');
    await client.videos.retrieve('video_1');
    expect(fake.requests[0]!.url).toBe('http://api.test:9000/v1/videos/video_1');
    expect(fake.requests[0]!.headers['authorization']).toBe('Bearer sk-env');
  });

  it('prefers explicit options, sends no auth without a key, and identifies itself', async () => {
    const fake = fakeTransport([{ json: videoFixture() }]);
    const client = new T2V({
      baseURL: 'http://explicit:1',
      transport: fake.transport,
      env: { T2V_BASE_URL: 'http://env:2' },
    });
    await client.videos.retrieve('video_1');
    const request = fake.requests[0]!;
    expect(request.url.startsWith('http://explicit:1/')).toBe(true);
    expect(request.headers['authorization']).toBeUndefined();
    expect(request.headers['user-agent']).toBe(`t2v-sdk/${VERSION} node/${process.versions.node}`);
    expect(request.headers['accept']).toBe('application/json');
    expect(client.timeout).toBe(60_000);
    expect(client.maxRetries).toBe(2);
  });

  it('defaults to localhost:8080 and rejects an invalid baseURL', () => {
    expect(new T2V({ env: {} }).baseURL).toBe('http://localhost:8080');
    expect(() => new T2V({ baseURL: 'not a url', env: {} })).toThrow(TypeError);
  });

  it('keeps VERSION equal to package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});

describe('retries', () => {
  it.each([408, 409, 429, 500, 503])('retries a %i and returns the later success', async (status) => {
    const fake = fakeTransport([
      { status, headers: fast.retry, json: errorEnvelope('busy', 'server_error', 'internal_error') },
      { json: videoFixture() },
    ]);
    const video = await new T2V({ transport: fake.transport, env: {} }).videos.retrieve('video_1');
    expect(video.id).toBe('video_1');
    expect(fake.requests).toHaveLength(2);
  });

  it('gives up after maxRetries and throws the typed error with the last answer', async () => {
    const fake = fakeTransport([
      {
        status: 503,
        headers: { ...fast.retry, 'x-request-id': 'req_last' },
        json: errorEnvelope('queue is full', 'service_unavailable_error', 'queue_full'),
      },
    ]);
    const client = new T2V({ transport: fake.transport, maxRetries: 3, env: {} });
    const error = await client.videos.create({ prompt: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({
      status: 503,
      code: 'queue_full',
      requestId: 'req_last',
      message: 'queue is full',
    });
    expect(fake.requests).toHaveLength(4);
  });

  it('does not retry 400, 401 or 404', async () => {
    for (const [status, Class] of [
      [400, BadRequestError],
      [401, AuthenticationError],
      [404, NotFoundError],
    ] as const) {
      const fake = fakeTransport([
        { status, json: errorEnvelope('no', 'invalid_request_error', 'invalid_value') },
        { json: videoFixture() },
      ]);
      await expect(
        new T2V({ transport: fake.transport, env: {} }).videos.retrieve('video_1'),
      ).rejects.toBeInstanceOf(Class);
      expect(fake.requests).toHaveLength(1);
    }
  });

  it('honours Retry-After in seconds', async () => {
    const fake = fakeTransport([
      {
        status: 429,
        headers: { 'retry-after': '1' },
        json: errorEnvelope('slow down', 'rate_limit_error', 'rate_limited'),
      },
      { json: videoFixture() },
    ]);
    await new T2V({ transport: fake.transport, env: {} }).videos.retrieve('video_1');
    const waited = fake.times[1]! - fake.times[0]!;
    expect(waited).toBeGreaterThanOrEqual(990);
    expect(waited).toBeLessThan(1500);
  });

  it('honours Retry-After on 503 before the backoff', async () => {
    const fake = fakeTransport([
      {
        status: 503,
        headers: { 'retry-after': '0.3' },
        json: errorEnvelope('full', 'service_unavailable_error', 'queue_full'),
      },
      { json: videoFixture() },
    ]);
    await new T2V({ transport: fake.transport, env: {} }).videos.retrieve('video_1');
    expect(fake.times[1]! - fake.times[0]!).toBeGreaterThanOrEqual(290);
  });

  it('surfaces a 429 as RateLimitError when retries are off', async () => {
    const fake = fakeTransport([
      {
        status: 429,
        headers: { 'retry-after': '5' },
        json: errorEnvelope('slow down', 'rate_limit_error', 'rate_limited'),
      },
    ]);
    const error = await new T2V({ transport: fake.transport, maxRetries: 0, env: {} }).videos
      .list()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).headers?.['retry-after']).toBe('5');
  });

  it('retries connection errors, then throws APIConnectionError', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const fake = fakeTransport([{ error: refused }]);
    const error = await new T2V({ transport: fake.transport, maxRetries: 1, env: {} }).models
      .list()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(fake.requests).toHaveLength(2);
  });

  it('keeps timeouts as APITimeoutError', async () => {
    const fake = fakeTransport([{ error: new APITimeoutError('Request timed out after 5 ms.') }]);
    await expect(
      new T2V({ transport: fake.transport, maxRetries: 0, env: {} }).models.list(),
    ).rejects.toBeInstanceOf(APITimeoutError);
  });

  it('stops waiting between retries when the signal aborts', async () => {
    const fake = fakeTransport([
      {
        status: 503,
        headers: { 'retry-after': '30' },
        json: errorEnvelope('down', 'service_unavailable_error', 'not_ready'),
      },
    ]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await expect(
      new T2V({ transport: fake.transport, env: {} }).videos.retrieve('video_1', {
        signal: controller.signal,
      }),
    ).rejects.toBeInstanceOf(APIUserAbortError);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('videos.create', () => {
  it('sends the params as JSON with one Idempotency-Key reused by every retry', async () => {
    const fake = fakeTransport([
      { status: 500, headers: fast.retry, json: errorEnvelope('oops', 'server_error', 'internal_error') },
      { error: new Error('socket hang up') },
      { json: videoFixture() },
    ]);
    await new T2V({ transport: fake.transport, env: {} }).videos.create({
      prompt: 'a fox',
      size: '256x256',
      seconds: 2,
      seed: 3,
    });
    expect(fake.requests).toHaveLength(3);
    const keys = fake.requests.map((r) => r.headers['idempotency-key']);
    expect(keys[0]).toMatch(/^t2v-sdk-[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
    expect(fake.requests[0]!.method).toBe('POST');
    expect(fake.requests[0]!.url).toBe('http://localhost:8080/v1/videos');
    expect(fake.requests[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(String(fake.requests[0]!.body))).toEqual({
      prompt: 'a fox',
      size: '256x256',
      seconds: 2,
      seed: 3,
    });
  });

  it('uses a caller key, a fresh key per call otherwise, and Prefer: wait with a long enough timeout', async () => {
    const fake = fakeTransport([{ json: videoFixture() }]);
    const client = new T2V({ transport: fake.transport, env: {} });
    await client.videos.create({ prompt: 'a' }, { idempotencyKey: 'mine' });
    await client.videos.create({ prompt: 'a' });
    await client.videos.create({ prompt: 'a' }, { wait: 120 });
    expect(fake.requests[0]!.headers['idempotency-key']).toBe('mine');
    expect(fake.requests[1]!.headers['idempotency-key']).not.toBe(
      fake.requests[2]!.headers['idempotency-key'],
    );
    expect(fake.requests[2]!.headers['prefer']).toBe('wait=120');
    expect(fake.requests[2]!.timeoutMs).toBe(150_000);
  });

  it('surfaces a bad size as BadRequestError with param "size" and the message as sent', async () => {
    const message = 'size "7x7" is not supported; use one of 256x256, 512x512';
    const fake = fakeTransport([
      { status: 400, json: errorEnvelope(message, 'invalid_request_error', 'unsupported_size', 'size') },
    ]);
    const error = (await new T2V({ transport: fake.transport, env: {} }).videos
      .create({ prompt: 'a', size: '7x7' })
      .catch((e: unknown) => e)) as BadRequestError;
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.param).toBe('size');
    expect(error.code).toBe('unsupported_size');
    expect(error.message).toBe(message);
    expect(error.requestId).toBe('req_test');
  });
});
