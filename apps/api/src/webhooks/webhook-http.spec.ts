import type { LookupAddress } from 'node:dns';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { RefusedAddress, type Resolve, webhookUrlProblem } from './url-safety';
import { WebhookHttp } from './webhook-http';

/** A receiver on 127.0.0.1 that counts TCP connections and requests. */
async function receiver(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  let connections = 0;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => answer(req, res));
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requests,
    connections: () => connections,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A resolver whose answers for a name change from call to call (the last one repeats). */
function rebinding(host: string, answers: string[]): Resolve & { calls: () => number } {
  let calls = 0;
  const resolve = async (name: string): Promise<LookupAddress[]> => {
    if (name !== host) throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    const address = answers[Math.min(calls++, answers.length - 1)]!;
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };
  return Object.assign(resolve, { calls: () => calls });
}

const json = { 'content-type': 'application/json' };

describe('WebhookHttp: the address policy where the connection is made', () => {
  let rx: Awaited<ReturnType<typeof receiver>>;
  let client: WebhookHttp | null = null;

  beforeEach(async () => {
    rx = await receiver((_req, res) => res.writeHead(204).end());
  });
  afterEach(async () => {
    client?.close();
    client = null;
    await rx.close();
  });

  it('a name that answers public at the check and loopback at connect is refused and never connected', async () => {
    const dns = rebinding('rebind.example.test', ['93.184.216.34', '127.0.0.1']);
    const url = `http://rebind.example.test:${rx.port}/hook`;
    // At create the name looks public…
    expect(await webhookUrlProblem(url, false, dns)).toBeNull();
    // …and by delivery it points at the receiver on loopback.
    client = new WebhookHttp(false, dns);
    await expect(client.post(url, json, '{}', 5000)).rejects.toThrow(RefusedAddress);
    await expect(client.post(url, json, '{}', 5000)).rejects.toThrow(/resolves to 127\.0\.0\.1.*loopback/);
    expect(dns.calls()).toBe(3); // one check, then one lookup per connection attempt
    expect(rx.connections()).toBe(0);
  });

  it('a name that resolves to a private address is refused before any connection', async () => {
    client = new WebhookHttp(false, rebinding('internal.example.test', ['127.0.0.1']));
    await expect(
      client.post(`http://internal.example.test:${rx.port}/hook`, json, '{}', 5000),
    ).rejects.toThrow(RefusedAddress);
    expect(rx.connections()).toBe(0);
  });

  it.each([
    'http://[::ffff:127.0.0.1]:PORT/internal-admin',
    'http://[::127.0.0.1]:PORT/',
    'http://2130706433:PORT/',
    'http://0177.0.0.1:PORT/',
    'http://127.0.0.1:PORT/',
  ])('the address literal %s is refused before any connection', async (url) => {
    client = new WebhookHttp(false, rebinding('unused.test', ['8.8.8.8']));
    await expect(client.post(url.replace('PORT', String(rx.port)), json, '{}', 5000)).rejects.toThrow(
      RefusedAddress,
    );
    expect(rx.connections()).toBe(0);
  });

  it('connects to what the lookup allowed, and sends the body (private targets allowed here)', async () => {
    const dns = rebinding('hooks.example.test', ['127.0.0.1']);
    client = new WebhookHttp(true, dns);
    expect(await client.post(`http://hooks.example.test:${rx.port}/hook`, json, '{"a":1}', 5000)).toBe(204);
    expect(rx.requests).toEqual(['POST /hook']);
    expect(dns.calls()).toBe(1);
  });

  it('does not follow a redirect: the 3xx is the answer and its target is never contacted', async () => {
    const target = await receiver((_req, res) => res.writeHead(204).end());
    const redirecting = await receiver((_req, res) =>
      res.writeHead(307, { location: `http://127.0.0.1:${target.port}/elsewhere` }).end(),
    );
    try {
      client = new WebhookHttp(true);
      expect(await client.post(`http://127.0.0.1:${redirecting.port}/hook`, json, '{}', 5000)).toBe(307);
      expect(redirecting.requests).toEqual(['POST /hook']);
      expect(target.connections()).toBe(0);
    } finally {
      await redirecting.close();
      await target.close();
    }
  });

  it('gives up after the timeout', async () => {
    const silent = await receiver(() => undefined);
    try {
      client = new WebhookHttp(true);
      await expect(client.post(`http://127.0.0.1:${silent.port}/`, json, '{}', 200)).rejects.toThrow(
        /aborted|timeout/i,
      );
    } finally {
      await silent.close();
    }
  });
});
