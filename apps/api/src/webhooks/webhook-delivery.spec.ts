import type { LookupAddress } from 'node:dns';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { Counter, Registry } from 'prom-client';

import { OutboxSignal } from '../jobs/job-lifecycle';
import { sampleJob } from '../jobs/job-store.contract';
import { SqliteJobStore } from '../queue/embedded/sqlite-job-store';
import type { Resolve } from './url-safety';
import { WebhookDeliveryService, type WebhookOptions } from './webhook-delivery.service';
import { WebhookPolicy } from './webhook-policy';

const SECRET = `whsec_${Buffer.from('t2v-webhook-test-secret-32-bytes').toString('base64')}`;

/**
 * The whole path of one webhook on the embedded store: the create-time check (WebhookPolicy), the
 * outbox entry the status change writes, the delivery service working it. Host names are resolved
 * by a table whose answers change between calls, as a rebinding DNS server's do.
 */
describe('webhook delivery and DNS rebinding', () => {
  let store: SqliteJobStore;
  let server: http.Server;
  let port: number;
  let connections = 0;
  let requests = 0;

  beforeEach(async () => {
    store = new SqliteJobStore(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-wh-')), 'jobs.sqlite'));
    await store.open();
    connections = 0;
    requests = 0;
    server = http.createServer((req, res) => {
      requests += 1;
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    server.on('connection', () => (connections += 1));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await store.close();
  });

  function service(allowPrivate: boolean, resolve: Resolve) {
    const registry = new Registry();
    const counter = new Counter({
      name: 't2v_webhook_deliveries_total',
      help: 'x',
      labelNames: ['result'],
      registers: [registry],
    });
    const options: WebhookOptions = {
      secret: SECRET,
      allowPrivate,
      maxAttempts: 3,
      backoffMs: 50,
      timeoutMs: 2000,
      pollMs: 60_000,
      resolve,
    };
    const deliveries = new WebhookDeliveryService(options, store, new OutboxSignal(), counter);
    const policy = new WebhookPolicy(options);
    const results = async () =>
      Object.fromEntries(
        (await registry.getSingleMetric('t2v_webhook_deliveries_total')!.get()).values.map((v) => [
          v.labels['result'],
          v.value,
        ]),
      );
    return { deliveries, policy, results };
  }

  /** A completed job whose change wrote an outbox entry for `url`. */
  async function completedWithWebhook(url: string): Promise<void> {
    const job = await store.insert(sampleJob({ webhookUrl: url }));
    await store.transition(
      job.id,
      ['queued'],
      'completed',
      { progress: 100 },
      {
        id: `msg_${job.id}`,
        event: 'video.completed',
        url,
        at: Date.now(),
      },
    );
  }

  it('refuses a name that rebinds to loopback after the create-time check, and never connects', async () => {
    let calls = 0;
    const rebinding: Resolve = async (host) => {
      calls += 1;
      const address = calls === 1 ? '93.184.216.34' : '127.0.0.1';
      return host === 'rebind.example.test' ? [{ address, family: 4 } as LookupAddress] : [];
    };
    const { deliveries, policy, results } = service(false, rebinding);
    const url = `http://rebind.example.test:${port}/internal-admin`;
    expect(await policy.urlProblem(url)).toBeNull(); // the create is accepted
    await completedWithWebhook(url);
    await deliveries.work();
    await deliveries.onApplicationShutdown(); // waits for the attempt in flight
    expect(await results()).toEqual({ refused: 1 });
    expect(connections).toBe(0);
    // Refused is final: the entry is gone, nothing is retried.
    expect(await store.claimDeliveries(Date.now() + 60_000, 1000, 10)).toEqual([]);
  });

  it('refuses an outbox entry for [::ffff:127.0.0.1] at delivery (written before the policy refused it at create)', async () => {
    const { deliveries, policy, results } = service(false, async () => []);
    const url = `http://[::ffff:127.0.0.1]:${port}/internal-admin`;
    expect(await policy.urlProblem(url)).toMatch(/ipv4Mapped→loopback/);
    await completedWithWebhook(url);
    await deliveries.work();
    await deliveries.onApplicationShutdown();
    expect(await results()).toEqual({ refused: 1 });
    expect(connections).toBe(0);
  });

  it('delivers to a name that keeps resolving to an allowed address', async () => {
    const { deliveries, results } = service(true, async () => [{ address: '127.0.0.1', family: 4 }]);
    await completedWithWebhook(`http://hooks.example.test:${port}/hook`);
    await deliveries.work();
    await deliveries.onApplicationShutdown();
    expect(await results()).toEqual({ success: 1 });
    expect(requests).toBe(1);
  });
});
