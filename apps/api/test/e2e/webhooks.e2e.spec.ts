import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { Webhook } from 'standardwebhooks';

import { getJson, postJson, startApi, waitFor } from '../support/api-process';
import { receiver } from '../support/webhook-receiver';

const SECRET = `whsec_${Buffer.from('t2v-webhook-test-secret-32-bytes').toString('base64')}`;

/** A port that refuses connections now, which a receiver can take later. */
async function closedPort(): Promise<number> {
  const down = await receiver();
  const port = Number(new URL(down.url).port);
  await down.close();
  return port;
}

/**
 * A job completed with a webhook to `url` (whose port nobody listens on) and one failed delivery
 * attempt; then the API stops, a receiver takes `port`, and the API starts again on the same data
 * directory with `after` as its environment.
 */
async function deliveryAfterRestart(
  url: string,
  port: number,
  before: Record<string, string>,
  after: Record<string, string>,
) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-outbox-'));
  const first = await startApi(before, { dataDir });
  let id: string;
  try {
    const done = await postJson(
      `${first.url}/v1/videos`,
      { prompt: 'outbox', webhook_url: url },
      { Prefer: 'wait=20' },
    );
    expect(done.json.status).toBe('completed');
    id = done.json.id as string;
    await waitFor(
      () => first.logs.some((l) => l.includes(`webhook for ${id}`) && l.includes('failed')),
      10_000,
      'a failed delivery attempt',
    );
  } finally {
    expect(await first.stop()).toBe(0);
  }
  const rx = await receiver(0, port);
  try {
    return { id, rx, api: await startApi(after, { dataDir }) };
  } catch (err) {
    await rx.close();
    throw err;
  }
}

describe('webhooks (Standard Webhooks)', () => {
  it('delivers signed video.completed and video.cancelled events, retrying a failing receiver', async () => {
    const api = await startApi({
      T2V_WEBHOOK_SECRET: SECRET,
      T2V_WEBHOOK_ALLOW_PRIVATE: 'true',
      T2V_SYNTHETIC_STEP_MS: '30',
    });
    const rx = await receiver(2);
    try {
      const done = await postJson(`${api.url}/v1/videos`, {
        prompt: 'hooked',
        webhook_url: rx.url,
        metadata: { order: '42' },
      });
      expect(done.status).toBe(200);
      await waitFor(() => rx.received.length === 1, 20_000, 'the completed event');
      expect(rx.calls()).toBe(3); // two 500s, then success
      const wh = new Webhook(SECRET);
      const event = wh.verify(rx.received[0]!.body, rx.received[0]!.headers as Record<string, string>) as any;
      expect(event).toMatchObject({
        type: 'video.completed',
        data: { id: done.json.id, status: 'completed', metadata: { order: '42' } },
      });

      const slow = await postJson(`${api.url}/v1/videos`, {
        prompt: 'cancel me',
        num_inference_steps: 100,
        webhook_url: rx.url,
      });
      await postJson(`${api.url}/v1/videos/${slow.json.id}/cancel`, {});
      await waitFor(() => rx.received.length === 2, 10_000, 'the cancelled event');
      const cancelled = wh.verify(
        rx.received[1]!.body,
        rx.received[1]!.headers as Record<string, string>,
      ) as any;
      expect(cancelled).toMatchObject({ type: 'video.cancelled', data: { id: slow.json.id } });
      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      expect(metrics).toMatch(/t2v_webhook_deliveries_total\{result="success"\} 2/);
      expect(metrics).toMatch(/t2v_webhook_deliveries_total\{result="retry"\} 2/);
    } finally {
      await rx.close();
      await api.stop();
    }
  });

  it('keeps a delivery through an API restart while the receiver is down, and sends it once, signed', async () => {
    const port = await closedPort();
    const env = {
      T2V_WEBHOOK_SECRET: SECRET,
      T2V_WEBHOOK_ALLOW_PRIVATE: 'true',
      T2V_WEBHOOK_MAX_ATTEMPTS: '10',
    };
    const { id, rx, api } = await deliveryAfterRestart(`http://127.0.0.1:${port}/hook`, port, env, env);
    try {
      await waitFor(() => rx.received.length === 1, 20_000, 'the delivery after the restart');
      const event = new Webhook(SECRET).verify(
        rx.received[0]!.body,
        rx.received[0]!.headers as Record<string, string>,
      ) as any;
      expect(event).toMatchObject({ type: 'video.completed', data: { id, status: 'completed' } });
      // Delivered once: the outbox entry is gone, nothing is sent again.
      await new Promise((r) => setTimeout(r, 2500));
      expect(rx.received).toHaveLength(1);
    } finally {
      await rx.close();
      await api.stop();
    }
  });

  it('sends the same webhook-id on every try of one event', async () => {
    const api = await startApi({ T2V_WEBHOOK_SECRET: SECRET, T2V_WEBHOOK_ALLOW_PRIVATE: 'true' });
    const ids: string[] = [];
    let calls = 0;
    const server = http.createServer((req, res) => {
      ids.push(String(req.headers['webhook-id']));
      req.resume();
      req.on('end', () => res.writeHead(++calls <= 2 ? 503 : 204).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      await postJson(`${api.url}/v1/videos`, { prompt: 'same id', webhook_url: url }, { Prefer: 'wait=20' });
      await waitFor(() => calls === 3, 20_000, 'three tries');
      expect(new Set(ids).size).toBe(1);
      expect(ids[0]).toMatch(/^msg_/);
    } finally {
      await new Promise((r) => server.close(r));
      await api.stop();
    }
  });

  it('never connects at delivery to an address the policy refuses, though it was accepted when written', async () => {
    // Written while private targets were allowed (or by a version that let this spelling through),
    // with nobody listening; then the receiver comes up and the API restarts with the default policy.
    const port = await closedPort();
    const env = { T2V_WEBHOOK_SECRET: SECRET, T2V_WEBHOOK_MAX_ATTEMPTS: '10' };
    const { rx, api } = await deliveryAfterRestart(
      `http://[::ffff:127.0.0.1]:${port}/internal-admin`,
      port,
      { ...env, T2V_WEBHOOK_ALLOW_PRIVATE: 'true' },
      env,
    );
    try {
      await waitFor(
        async () =>
          /t2v_webhook_deliveries_total\{result="refused"\} 1/.test(
            await (await fetch(`${api.url}/metrics`)).text(),
          ),
        20_000,
        'the refused delivery',
      );
      expect(api.logs.join('\n')).toMatch(/refused.*ipv4Mapped→loopback/);
      await new Promise((r) => setTimeout(r, 2500));
      expect(rx.connections()).toBe(0);
    } finally {
      await rx.close();
      await api.stop();
    }
  });

  it('never lets a dead receiver block jobs or readiness', async () => {
    const api = await startApi({ T2V_WEBHOOK_SECRET: SECRET, T2V_WEBHOOK_ALLOW_PRIVATE: 'true' });
    try {
      const res = await postJson(
        `${api.url}/v1/videos`,
        { prompt: 'nobody listens', webhook_url: 'http://127.0.0.1:9/hook' },
        { Prefer: 'wait=20' },
      );
      expect(res.json.status).toBe('completed');
      expect((await getJson(`${api.url}/readyz`)).status).toBe(200);
    } finally {
      await api.stop();
    }
  });

  it('refuses private targets by default, in every spelling, and webhooks when no secret is configured', async () => {
    const guarded = await startApi({ T2V_WEBHOOK_SECRET: SECRET });
    const rx = await receiver();
    const port = new URL(rx.url).port;
    try {
      for (const url of [
        'http://127.0.0.1:8080/hook',
        'http://localhost/hook',
        'http://169.254.169.254/latest',
        'http://[::1]/x',
        `http://[::ffff:127.0.0.1]:${port}/internal-admin`,
        'http://[::ffff:a9fe:a9fe]/latest/meta-data',
        `http://[64:ff9b::7f00:1]:${port}/`,
        `http://[::127.0.0.1]:${port}/`,
        `http://[2002:7f00:1::]:${port}/`,
        `http://2130706433:${port}/`,
        `http://0177.0.0.1:${port}/`,
        'http://100.64.0.1/',
        'http://[fd00::1]/',
        'http://224.0.0.1/',
      ]) {
        const res = await postJson(`${guarded.url}/v1/videos`, { prompt: 'p', webhook_url: url });
        expect([url, res.status, res.json.error.param]).toEqual([url, 400, 'webhook_url']);
      }
      await new Promise((r) => setTimeout(r, 1500)); // a delivery would have been tried by now
      expect(rx.connections()).toBe(0);
    } finally {
      await rx.close();
      await guarded.stop();
    }
    const off = await startApi({});
    try {
      const res = await postJson(`${off.url}/v1/videos`, {
        prompt: 'p',
        webhook_url: 'https://example.com/hook',
      });
      expect(res.status).toBe(400);
      expect(res.json.error.message).toMatch(/not enabled/);
    } finally {
      await off.stop();
    }
  });
});
