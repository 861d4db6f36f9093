import {
  constants,
  createHash,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  sign as rsaSign,
} from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { getJson, postJson, startApi } from '../support/api-process';
import { startRedis } from '@t2v/testing/redis';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * A JWT signed with node:crypto (the API verifies it with jose against the JWKS): RS256 by
 * default; PS256 (RSA-PSS with the same key); HS256 keyed with the public key's PEM (the classic
 * algorithm-confusion forgery); or `none`.
 */
function signJwt(
  claims: Record<string, unknown>,
  key: KeyObject,
  alg: 'RS256' | 'PS256' | 'HS256' | 'none' = 'RS256',
  hmacKey = '',
): string {
  const header = b64url(JSON.stringify({ alg, kid: 'k1', typ: 'JWT' }));
  const payload = b64url(JSON.stringify(claims));
  const input = Buffer.from(`${header}.${payload}`);
  const signature =
    alg === 'RS256'
      ? rsaSign('sha256', input, key)
      : alg === 'PS256'
        ? rsaSign('sha256', input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
        : alg === 'HS256'
          ? createHmac('sha256', hmacKey).update(input).digest()
          : Buffer.alloc(0);
  return `${header}.${payload}.${b64url(signature)}`;
}

/** A JWKS endpoint on loopback serving `keys`. */
async function jwksServer(keys: object[]) {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    close: () => server.close(),
  };
}

describe('authentication and rate limits', () => {
  it('takes keys from a mounted file (plain or sha256 digests); probes and metrics stay open', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-keys-'));
    const keysFile = path.join(dir, 'keys');
    const digest = createHash('sha256').update('hashed-key-2').digest('hex');
    fs.writeFileSync(keysFile, `# one key per line\nplain-key-1\nsha256:${digest}\n`);
    const api = await startApi({ T2V_API_KEYS_FILE: keysFile, T2V_API_KEYS: 'env-key-3' });
    try {
      for (const key of ['plain-key-1', 'hashed-key-2', 'env-key-3']) {
        expect((await getJson(`${api.url}/v1/models`, bearer(key))).status).toBe(200);
      }
      const missing = await getJson(`${api.url}/v1/videos`);
      expect(missing.status).toBe(401);
      expect(missing.json.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
      expect(missing.headers.get('www-authenticate')).toBe('Bearer');
      expect((await postJson(`${api.url}/v1/videos`, { prompt: 'p' }, bearer('wrong'))).status).toBe(401);
      expect((await getJson(`${api.url}/v1/videos`, bearer(`sha256:${digest}`))).status).toBe(401);
      for (const open of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
        expect((await fetch(`${api.url}${open}`)).status).toBe(200);
      }
    } finally {
      await api.stop();
    }
  });

  it('validates OIDC JWTs against the issuer JWKS with issuer and audience checks', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const now = Math.floor(Date.now() / 1000);
    const sign = async (claims: { iss?: string; aud?: string; exp?: number }, key = privateKey) =>
      signJwt(
        {
          sub: 'user-42',
          iss: claims.iss ?? 'https://issuer.test',
          aud: claims.aud ?? 't2v',
          iat: now,
          exp: claims.exp ?? now + 300,
        },
        key,
      );
    const api = await startApi({
      T2V_JWT_JWKS_URL: jwksUrl,
      T2V_JWT_ISSUER: 'https://issuer.test',
      T2V_JWT_AUDIENCE: 't2v',
    });
    try {
      expect((await getJson(`${api.url}/v1/models`, bearer(await sign({})))).status).toBe(200);
      for (const bad of [
        await sign({ aud: 'someone-else' }),
        await sign({ iss: 'https://evil.test' }),
        await sign({ exp: now - 60 }),
        await sign({}, otherKey),
      ]) {
        const res = await getJson(`${api.url}/v1/models`, bearer(bad));
        expect(res.status).toBe(401);
        expect(res.json.error.message).toMatch(/Invalid token \(ERR_/);
      }
    } finally {
      await api.stop();
      jwks.close();
    }
  });

  it('accepts only the pinned algorithms, and only tokens that name their subject', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // The key as many issuers publish it: no "alg" of its own, so only the API's pin decides.
    const jwks = await jwksServer([{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig' }]);
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'user-7', iss: 'https://issuer.test', aud: 't2v', iat: now, exp: now + 300 };
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const env = {
      T2V_JWT_JWKS_URL: jwks.url,
      T2V_JWT_ISSUER: 'https://issuer.test',
      T2V_JWT_AUDIENCE: 't2v',
    };
    const pinned = await startApi(env); // the default pin: RS256
    try {
      const ok = await getJson(`${pinned.url}/v1/models`, bearer(signJwt(claims, privateKey)));
      expect(ok.status).toBe(200);
      for (const [token, reason] of [
        [signJwt(claims, privateKey, 'PS256'), /ERR_JOSE_ALG_NOT_ALLOWED/],
        [signJwt(claims, privateKey, 'HS256', pem), /ERR_JOSE_ALG_NOT_ALLOWED/],
        [
          signJwt(claims, privateKey, 'none'),
          /ERR_JOSE_ALG_NOT_ALLOWED|ERR_JOSE_NOT_SUPPORTED|ERR_JWS_INVALID/,
        ],
        [signJwt({ ...claims, sub: undefined }, privateKey), /ERR_JWT_CLAIM_VALIDATION_FAILED: .*"sub"/],
        [signJwt({ ...claims, sub: '' }, privateKey), /"sub"/],
      ] as const) {
        const res = await getJson(`${pinned.url}/v1/models`, bearer(token));
        expect([res.status, res.json.error.message]).toEqual([401, expect.stringMatching(reason)]);
      }
    } finally {
      await pinned.stop();
    }
    // Another pin, from the environment: PS256 now passes and RS256 does not.
    const other = await startApi({ ...env, T2V_JWT_ALGORITHMS: 'PS256' });
    try {
      expect(
        (await getJson(`${other.url}/v1/models`, bearer(signJwt(claims, privateKey, 'PS256')))).status,
      ).toBe(200);
      expect((await getJson(`${other.url}/v1/models`, bearer(signJwt(claims, privateKey)))).status).toBe(401);
    } finally {
      await other.stop();
      jwks.close();
    }
  });

  it('limits each key on its own: one key hitting its limit never affects another', async () => {
    const api = await startApi({ T2V_API_KEYS: 'key-a,key-b', T2V_RATE_LIMIT_PER_MIN: '5' });
    try {
      const a = [];
      for (let i = 0; i < 6; i++) a.push(await getJson(`${api.url}/v1/models`, bearer('key-a')));
      expect(a.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429]);
      const limited = a[5]!;
      expect(limited.json.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await getJson(`${api.url}/v1/models`, bearer('key-b'))).status).toBe(200);
      expect((await getJson(`${api.url}/healthz`)).status).toBe(200);
    } finally {
      await api.stop();
    }
  });

  it('counts a key across replicas when the queue is on Redis', async () => {
    const redis = await startRedis();
    const env = {
      T2V_QUEUE: 'redis',
      REDIS_URL: redis.url,
      T2V_API_KEYS: 'key-a,key-b',
      T2V_RATE_LIMIT_PER_MIN: '5',
    };
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-rl-'));
    const one = await startApi({ ...env, T2V_STORAGE_DIR: storage });
    const two = await startApi({ ...env, T2V_STORAGE_DIR: storage });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const api = i % 2 === 0 ? one : two;
        statuses.push((await getJson(`${api.url}/v1/models`, bearer('key-a'))).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      expect((await getJson(`${two.url}/v1/models`, bearer('key-b'))).status).toBe(200);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
      await redis.stop();
    }
  });
});
