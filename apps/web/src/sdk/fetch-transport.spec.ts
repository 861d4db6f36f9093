import { APIConnectionError, APITimeoutError, APIUserAbortError, T2V, type TransportRequest } from '@t2v/sdk';

import { BufferShim } from './browser-globals';
import { type BrowserBody, createFetchTransport } from './fetch-transport';

const request = (patch: Partial<TransportRequest> = {}): TransportRequest => ({
  method: 'GET',
  url: 'http://t2v.test/v1/models',
  headers: { accept: 'application/json', 'user-agent': 't2v-sdk/0.1.0 node/20' },
  timeoutMs: 1000,
  stream: false,
  ...patch,
});

/** A fetch that waits for its signal to abort, like a server that never answers. */
const hangingFetch: typeof fetch = (_input, init) =>
  new Promise((_resolve, reject) =>
    init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
  );

/** A body that sends `first`, then nothing until cancelled. */
function stallingStream(first: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(first));
    },
  });
}

async function collect(body: BrowserBody): Promise<string> {
  let text = '';
  for await (const chunk of body) text += new TextDecoder().decode(chunk);
  return text;
}

describe('fetch transport', () => {
  it('answers any status with lower-cased headers and the body, without a user agent', async () => {
    let sent: RequestInit | undefined;
    const transport = createFetchTransport(async (_url, init) => {
      sent = init;
      return new Response('{"error":{"message":"nope"}}', { status: 400, headers: { 'X-Request-Id': 'r1' } });
    });
    const response = await transport(request({ method: 'POST', body: '{}' }));
    expect(response.status).toBe(400);
    expect(response.headers['x-request-id']).toBe('r1');
    expect(await collect(response.body as unknown as BrowserBody)).toBe('{"error":{"message":"nope"}}');
    expect(new Headers(sent?.headers).has('user-agent')).toBe(false);
    expect(new Headers(sent?.headers).get('accept')).toBe('application/json');
    expect(sent).toMatchObject({ method: 'POST', body: '{}', cache: 'no-store' });
  });

  it('maps a timeout, the caller abort and a network failure to the SDK errors', async () => {
    await expect(createFetchTransport(hangingFetch)(request({ timeoutMs: 20 }))).rejects.toBeInstanceOf(
      APITimeoutError,
    );

    const controller = new AbortController();
    const pending = createFetchTransport(hangingFetch)(request({ signal: controller.signal }));
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);

    const refused = createFetchTransport(async () => {
      throw new TypeError('Failed to fetch');
    })(request());
    await expect(refused).rejects.toThrow(APIConnectionError);
    await expect(refused).rejects.toThrow(/Failed to fetch/);
  });

  it('bounds each idle gap of a stream, and destroy() cancels it', async () => {
    const transport = createFetchTransport(async () => new Response(stallingStream('data: 1\n\n')));
    const stalled = await transport(request({ stream: true, timeoutMs: 30 }));
    const chunks: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of stalled.body as unknown as BrowserBody)
          chunks.push(new TextDecoder().decode(chunk));
      })(),
    ).rejects.toBeInstanceOf(APITimeoutError);
    expect(chunks).toEqual(['data: 1\n\n']);

    const destroyed = (await transport(request({ stream: true, timeoutMs: 5000 })))
      .body as unknown as BrowserBody;
    destroyed.destroy();
    expect(await collect(destroyed)).toBe('');
  });

  it('carries the whole SDK: JSON, typed errors and the events stream', async () => {
    const video = { id: 'video_1', object: 'video', status: 'completed', progress: 100 };
    const client = new T2V({
      baseURL: 'http://t2v.test',
      env: {},
      maxRetries: 0,
      transport: createFetchTransport(async (url) => {
        const path = new URL(String(url)).pathname;
        if (path === '/v1/models') return Response.json({ object: 'list', data: [] });
        if (path === '/v1/videos/video_1/events') {
          return new Response(`event: video.completed\ndata: ${JSON.stringify(video)}\n\n`, {
            headers: { 'content-type': 'text/event-stream' },
          });
        }
        return Response.json(
          {
            error: {
              message: "Unsupported size '7x7'.",
              type: 'invalid_request_error',
              param: 'size',
              code: 'unsupported_size',
            },
          },
          { status: 400 },
        );
      }),
    });
    expect(await client.models.list()).toEqual({ object: 'list', data: [] });
    await expect(client.videos.create({ prompt: 'x', size: '7x7' })).rejects.toMatchObject({
      status: 400,
      param: 'size',
    });
    const events = [];
    for await (const event of client.videos.events('video_1')) events.push(event);
    expect(events).toEqual([{ event: 'video.completed', data: video }]);
  });
});

describe('Buffer stand-in', () => {
  it('joins chunks and decodes them as UTF-8, as the SDK core does', () => {
    const joined = BufferShim.concat([
      BufferShim.from('gr'),
      BufferShim.from(new TextEncoder().encode('üße ✓')),
    ]);
    expect(joined.toString()).toBe('grüße ✓');
    expect(joined.byteLength).toBe(new TextEncoder().encode('grüße ✓').byteLength);
  });
});
