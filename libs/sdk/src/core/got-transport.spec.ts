import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { T2V } from '../client.js';
import { APIConnectionError, APITimeoutError, APIUserAbortError, RateLimitError } from './errors.js';
import { createGotTransport } from './got-transport.js';

/** A real HTTP server on a loopback port, answering from a per-test handler. */
async function startServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('got transport against a real loopback server', () => {
  it('sends method, headers and body and returns status, lower-cased headers and a stream', async () => {
    const server = await startServer((req, res, body) => {
      res.writeHead(201, { 'X-Request-Id': 'req_1', 'Set-Cookie': ['a=1', 'b=2'] });
      res.end(JSON.stringify({ method: req.method, url: req.url, auth: req.headers['authorization'], body }));
    });
    try {
      const response = await createGotTransport()({
        method: 'POST',
        url: `${server.url}/v1/videos?x=1`,
        headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
        body: '{"prompt":"a"}',
        timeoutMs: 5000,
        stream: false,
      });
      expect(response.status).toBe(201);
      expect(response.headers['x-request-id']).toBe('req_1');
      expect(response.headers['set-cookie']).toBe('a=1, b=2');
      let text = '';
      for await (const chunk of response.body) text += chunk;
      expect(JSON.parse(text)).toEqual({
        method: 'POST',
        url: '/v1/videos?x=1',
        auth: 'Bearer k',
        body: '{"prompt":"a"}',
      });
    } finally {
      await server.close();
    }
  });

  it('sends a POST without a body at once, with content-length 0', async () => {
    const server = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ length: req.headers['content-length'] ?? null }));
    });
    try {
      const response = await createGotTransport()({
        method: 'POST',
        url: `${server.url}/v1/videos/v/cancel`,
        headers: {},
        timeoutMs: 2000,
        stream: false,
      });
      let text = '';
      for await (const chunk of response.body) text += chunk;
      expect(JSON.parse(text)).toEqual({ length: '0' });
    } finally {
      await server.close();
    }
  });

  it('drives the client: 429 with Retry-After, then success', async () => {
    let calls = 0;
    const server = await startServer((_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(429, {
          'content-type': 'application/json',
          'retry-after': '0.2',
          'x-request-id': 'req_a',
        });
        res.end(
          JSON.stringify({
            error: { message: 'too many', type: 'rate_limit_error', param: null, code: 'rate_limited' },
          }),
        );
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [] }));
      }
    });
    try {
      const client = new T2V({ baseURL: server.url, env: {} });
      expect((await client.models.list()).data).toEqual([]);
      expect(calls).toBe(2);
      calls = 0;
      const failing = await new T2V({ baseURL: server.url, env: {}, maxRetries: 0 }).models
        .list()
        .catch((e: unknown) => e);
      expect(failing).toBeInstanceOf(RateLimitError);
      expect(failing).toMatchObject({ requestId: 'req_a', code: 'rate_limited' });
    } finally {
      await server.close();
    }
  });

  it('maps a refused connection to APIConnectionError', async () => {
    const server = await startServer(() => undefined);
    const url = server.url;
    await server.close();
    const error = await new T2V({ baseURL: url, env: {}, maxRetries: 0 }).models
      .list()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('maps a slow answer to APITimeoutError', async () => {
    const server = await startServer((_req, res) => setTimeout(() => res.end('{}'), 2000));
    try {
      const error = await new T2V({ baseURL: server.url, env: {}, maxRetries: 0, timeout: 100 }).models
        .list()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(APITimeoutError);
    } finally {
      await server.close();
    }
  });

  it('aborts an open event stream through the signal', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': ping\n\n');
    });
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const iterate = async () => {
        for await (const _ of new T2V({ baseURL: server.url, env: {} }).videos.events('video_1', {
          signal: controller.signal,
        }))
          void _;
      };
      await expect(iterate()).rejects.toBeInstanceOf(APIUserAbortError);
    } finally {
      await server.close();
    }
  });
});
