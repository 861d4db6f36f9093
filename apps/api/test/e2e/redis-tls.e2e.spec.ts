import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type ApiProcess, getJson, postJson, startApi, waitFor } from '../support/api-process';
import { freePort, REDIS_CLI, type RedisProcess, startOneSlotCluster, startRedis } from '@t2v/testing/redis';
import { makeCa, signCertificate } from '@t2v/testing/tls';

/**
 * The redis driver against a managed-style Redis: TLS only (certificates made here with openssl,
 * signed by a test CA) and an ACL user instead of the default one; and against a Redis Cluster
 * Cluster node that serves only the slot of `{t2v}`, which refuses any key outside it.
 */
const SMALL = { prompt: 'a lighthouse at dusk', size: '320x192', seconds: 1, num_inference_steps: 2 };

/** A CA and a server certificate for 127.0.0.1 it signed; and a second CA that signed nothing. */
function makeCertificates(dir: string): void {
  makeCa(dir, 'ca', '/CN=t2v test CA');
  makeCa(dir, 'other-ca', '/CN=another CA');
  signCertificate(dir, {
    name: 'server',
    subject: '/CN=127.0.0.1',
    extensions: 'subjectAltName=IP:127.0.0.1',
  });
}

/** Starts the API expecting it to exit at boot; resolves with its output. */
async function bootFailure(env: Record<string, string>): Promise<string> {
  const err = await startApi(env, { timeoutMs: 20_000 }).then(
    async (api) => {
      await api.stop();
      throw new Error('the API started');
    },
    (e: Error) => e.message,
  );
  return err;
}

describe('redis driver over TLS with an ACL user', () => {
  let certs: string;
  let redis: RedisProcess;
  let tlsPort: number;
  let api: ApiProcess | null = null;

  beforeAll(async () => {
    certs = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-redis-tls-'));
    makeCertificates(certs);
    tlsPort = await freePort();
    redis = await startRedis({
      args: [
        '--port',
        '0',
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        path.join(certs, 'server.crt'),
        '--tls-key-file',
        path.join(certs, 'server.key'),
        '--tls-ca-cert-file',
        path.join(certs, 'ca.crt'),
        '--tls-auth-clients',
        'no',
        '--user',
        'default',
        'off',
        '--user',
        't2v',
        'on',
        '>s3cret-t2v',
        '~*',
        '&*',
        '+@all',
      ],
    });
  }, 30_000);
  afterAll(async () => {
    await api?.stop();
    await redis.stop();
    fs.rmSync(certs, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string>) => ({
    T2V_QUEUE: 'redis',
    REDIS_URL: `rediss://127.0.0.1:${tlsPort}`,
    REDIS_USERNAME: 't2v',
    REDIS_PASSWORD: 's3cret-t2v',
    ...extra,
  });

  it('connects with rediss:// and the CA file, and runs a job', async () => {
    api = await startApi(env({ REDIS_TLS_CA_FILE: path.join(certs, 'ca.crt') }));
    const ready = await getJson(`${api.url}/readyz`);
    expect(ready.json.details.queue).toMatchObject({ status: 'up', driver: 'redis' });
    const created = await postJson(`${api.url}/v1/videos`, SMALL);
    expect(created.status).toBe(200);
    await waitFor(
      async () => (await getJson(`${api!.url}/v1/videos/${created.json.id}`)).json.status === 'completed',
      30_000,
      'the job to complete over TLS',
    );
    await api.stop();
    api = null;
  }, 60_000);

  it('refuses a certificate its CA file did not sign, at boot, saying what to set', async () => {
    const out = await bootFailure(env({ REDIS_TLS_CA_FILE: path.join(certs, 'other-ca.crt') }));
    expect(out).toMatch(
      /cannot use Redis at rediss:\/\/127\.0\.0\.1:\d+: the Redis server's TLS certificate is not trusted/,
    );
    expect(out).toMatch(/set REDIS_TLS_CA_FILE/);
  }, 30_000);

  it('refuses the certificate without a CA file (not a public CA)', async () => {
    const out = await bootFailure(env({}));
    expect(out).toMatch(/TLS certificate is not trusted/);
  }, 30_000);

  it('refuses a wrong password at boot', async () => {
    const out = await bootFailure(
      env({ REDIS_TLS_CA_FILE: path.join(certs, 'ca.crt'), REDIS_PASSWORD: 'wrong' }),
    );
    expect(out).toMatch(/Redis refused the credentials \(WRONGPASS/);
  }, 30_000);
});

describe('redis driver on a Redis Cluster node that serves only the slot of {t2v}', () => {
  let cluster: Awaited<ReturnType<typeof startOneSlotCluster>>;
  let api: ApiProcess | null = null;

  beforeAll(async () => {
    cluster = await startOneSlotCluster('t2v');
  }, 30_000);
  afterAll(async () => {
    await api?.stop();
    await cluster.stop();
  });

  it('creates, runs (BullMQ), lists and rate-limits with every key under {t2v}', async () => {
    api = await startApi({
      T2V_QUEUE: 'redis',
      REDIS_URL: cluster.owner.url,
      T2V_RATE_LIMIT_PER_MIN: '1000',
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await postJson(
        `${api.url}/v1/videos`,
        { ...SMALL, prompt: `cluster ${i}` },
        { 'Idempotency-Key': `k${i}` },
      );
      expect(r.status).toBe(200);
      ids.push(r.json.id);
    }
    await waitFor(
      async () => {
        const s = await Promise.all(
          ids.map(async (id) => (await getJson(`${api!.url}/v1/videos/${id}`)).json.status),
        );
        return s.every((x) => x === 'completed');
      },
      30_000,
      'the jobs to complete on the cluster node',
    );
    expect((await getJson(`${api.url}/v1/videos?limit=10`)).json.data).toHaveLength(5);
    const keys = execFileSync(REDIS_CLI, ['-p', String(cluster.owner.port), '--scan'])
      .toString()
      .trim()
      .split('\n');
    expect(keys.length).toBeGreaterThan(5);
    expect(keys.filter((k) => !k.startsWith('{t2v}:'))).toEqual([]);
    expect(api.logs.join('\n')).not.toMatch(/CROSSSLOT|do not hash to the same slot/);
  }, 60_000);
});
