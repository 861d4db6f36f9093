import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ConfigError, loadConfig, secretValues } from './config.schema';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({ PATH: '/usr/bin' });
    expect(c).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      engine: 'synthetic',
      devices: ['cpu'],
      queue: 'embedded',
      maxQueue: 100,
      outputTtlHours: 168,
      logLevel: 'info',
      apiKeys: [],
    });
    expect(c.storageDir).toBe(`${c.dataDir}/videos`);
    expect(c.childEnv['PATH']).toBe('/usr/bin');
  });

  it('makes one worker per GPU index', () => {
    expect(loadConfig({ T2V_DEVICES: '0,1' }).devices).toEqual(['0', '1']);
    expect(loadConfig({ T2V_CPU_WORKERS: '3' }).devices).toEqual(['cpu', 'cpu', 'cpu']);
  });

  it.each([
    ['T2V_ENGINE', 'sdxl', /T2V_ENGINE="sdxl".*accepted: synthetic, wan-tiny, wan/],
    ['PORT', 'eighty', /PORT="eighty"/],
    ['PORT', '70000', /PORT="70000"/],
    ['T2V_DEVICES', 'gpu0', /T2V_DEVICES="gpu0": expected "cpu" or GPU indices/],
    ['T2V_MAX_QUEUE', '0', /T2V_MAX_QUEUE="0"/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud".*accepted: debug, info, warn, error/],
    ['T2V_WORKER_COMMAND', 'node x.js', /T2V_WORKER_COMMAND=.*JSON array/],
    ['T2V_VAE_TILING', 'yes', /T2V_VAE_TILING="yes"/],
    ['T2V_COMPILE', 'max-autotune', /T2V_COMPILE="max-autotune".*accepted: off, blocks/],
    [
      'T2V_CACHE',
      'first-block',
      /T2V_CACHE="first-block": must be off or first-block:<threshold in \(0, 1\]>/,
    ],
    ['T2V_CACHE', 'first-block:0', /T2V_CACHE="first-block:0"/],
    ['T2V_CACHE', 'first-block:1.5', /T2V_CACHE="first-block:1.5"/],
    ['T2V_CACHE', 'teacache:0.1', /T2V_CACHE="teacache:0.1"/],
    ['T2V_ATTENTION_BACKEND', 'Flash Attention', /T2V_ATTENTION_BACKEND="Flash Attention"/],
    ['T2V_MAX_PIXEL_FRAMES', '0', /T2V_MAX_PIXEL_FRAMES="0"/],
    ['T2V_STREAM_DECODE', 'maybe', /T2V_STREAM_DECODE="maybe"/],
    [
      'T2V_VAE_DECODE_BUDGET_MIB',
      '0',
      /T2V_VAE_DECODE_BUDGET_MIB="0": must be auto or a positive number of MiB/,
    ],
    ['T2V_VAE_DECODE_BUDGET_MIB', '20GiB', /T2V_VAE_DECODE_BUDGET_MIB="20GiB"/],
    ['T2V_TRANSFORMER_WEIGHTS', 'int8', /T2V_TRANSFORMER_WEIGHTS="int8".*accepted: bf16, fp8/],
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('reads the acceleration options', () => {
    expect(loadConfig({})).toMatchObject({ compile: 'off', cache: 'off', attentionBackend: undefined });
    expect(
      loadConfig({ T2V_COMPILE: 'blocks', T2V_CACHE: 'first-block:0.05', T2V_ATTENTION_BACKEND: '_flash_3' }),
    ).toMatchObject({ compile: 'blocks', cache: 'first-block:0.05', attentionBackend: '_flash_3' });
    expect(loadConfig({ T2V_CACHE: 'first-block:1' }).cache).toBe('first-block:1');
    expect(loadConfig({ T2V_MAX_PIXEL_FRAMES: '58572800' }).maxPixelFrames).toBe(58572800);
  });

  it('reads the decode and weights options; fp8 only where a worker can run it', () => {
    expect(loadConfig({})).toMatchObject({
      streamDecode: true,
      vaeDecodeBudgetMib: 'auto',
      transformerWeights: 'bf16',
    });
    expect(
      loadConfig({
        T2V_ENGINE: 'wan',
        T2V_MODEL_PATH: '/m',
        T2V_DEVICES: '0',
        T2V_STREAM_DECODE: 'false',
        T2V_VAE_DECODE_BUDGET_MIB: ' 20000 ',
        T2V_TRANSFORMER_WEIGHTS: 'fp8',
      }),
    ).toMatchObject({ streamDecode: false, vaeDecodeBudgetMib: '20000', transformerWeights: 'fp8' });
    expect(loadConfig({ T2V_VAE_DECODE_BUDGET_MIB: 'AUTO' }).vaeDecodeBudgetMib).toBe('auto');
    expect(() => loadConfig({ T2V_TRANSFORMER_WEIGHTS: 'fp8', T2V_DEVICES: '0' })).toThrow(
      /T2V_TRANSFORMER_WEIGHTS=fp8: applies to the wan and wan-tiny engines only/,
    );
    expect(() => loadConfig({ T2V_ENGINE: 'wan-tiny', T2V_TRANSFORMER_WEIGHTS: 'fp8' })).toThrow(
      /T2V_TRANSFORMER_WEIGHTS=fp8: float8 matmuls need a CUDA GPU .* T2V_DEVICES=cpu/,
    );
    expect(() =>
      loadConfig({
        T2V_ENGINE: 'wan-tiny',
        T2V_DEVICES: '0',
        T2V_TRANSFORMER_WEIGHTS: 'fp8',
        T2V_LORAS: 'a=/l/a',
      }),
    ).toThrow(/T2V_TRANSFORMER_WEIGHTS=fp8: cannot be combined with T2V_LORAS/);
  });

  it('passes T2V_MODEL_PROFILE on as an absolute path (the worker reads it); wan engines only', () => {
    expect(loadConfig({ T2V_ENGINE: 'wan-tiny', T2V_MODEL_PROFILE: 'p.json' }).modelProfile).toBe(
      path.resolve('p.json'),
    );
    expect(loadConfig({ T2V_ENGINE: 'wan-tiny' }).modelProfile).toBeUndefined();
    expect(() => loadConfig({ T2V_MODEL_PROFILE: '/p.json' })).toThrow(
      /T2V_MODEL_PROFILE: only the wan and wan-tiny engines use a profile/,
    );
  });

  it('reads the role: both by default; the API and GPU tiers need the shared queue', () => {
    expect(loadConfig({}).role).toBe('all');
    const redis = { T2V_QUEUE: 'redis', REDIS_URL: 'redis://r:6379' };
    expect(loadConfig({ ...redis, T2V_ROLE: 'api', T2V_DEVICES: '0,1' })).toMatchObject({
      role: 'api',
      devices: [],
    });
    expect(loadConfig({ ...redis, T2V_ROLE: 'gpu', T2V_DEVICES: '0,1' })).toMatchObject({
      role: 'gpu',
      devices: ['0', '1'],
    });
    expect(() => loadConfig({ T2V_ROLE: 'api' })).toThrow(/T2V_ROLE=api: .*set T2V_QUEUE=redis/);
    expect(() => loadConfig({ T2V_ROLE: 'worker' })).toThrow(/T2V_ROLE="worker".*accepted: all, api, gpu/);
  });

  it('needs a model path for the wan engine', () => {
    expect(() => loadConfig({ T2V_ENGINE: 'wan' })).toThrow(/T2V_MODEL_PATH: required when T2V_ENGINE=wan/);
  });

  it('accepts the redis driver with a URL, and only with one', () => {
    const c = loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'redis://:pw@t2v-redis:6379/0' });
    expect(c).toMatchObject({
      queue: 'redis',
      redis: { url: 'redis://:pw@t2v-redis:6379/0' },
      redisDurability: { rule: 'primary', replicas: 1, timeoutMs: 500 },
      redisPrefix: 't2v',
      redisLockS: 15,
    });
    expect(() => loadConfig({ T2V_QUEUE: 'redis' })).toThrow(/REDIS_URL: required when T2V_QUEUE=redis/);
    expect(() => loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'http://x' })).toThrow(/REDIS_URL="http:\/\/x"/);
    expect(() => loadConfig({ T2V_QUEUE: 'kafka' })).toThrow(/accepted: embedded, redis/);
  });

  it('reads Sentinel, ACL, TLS and the durability rule of the redis driver', () => {
    const c = loadConfig({
      T2V_QUEUE: 'redis',
      REDIS_SENTINELS: 's-0:26379, s-1:26379,10.0.0.3:26380',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'spw',
      REDIS_USERNAME: 't2v',
      REDIS_PASSWORD: 'pw',
      REDIS_TLS: 'true',
    });
    expect(c.redis).toEqual({
      sentinels: [
        { host: 's-0', port: 26379 },
        { host: 's-1', port: 26379 },
        { host: '10.0.0.3', port: 26380 },
      ],
      sentinelName: 'mymaster',
      sentinelPassword: 'spw',
      username: 't2v',
      password: 'pw',
      tls: true,
    });
    // Sentinel means replicas: the default rule waits for one.
    expect(c.redisDurability).toEqual({ rule: 'replicas', replicas: 1, timeoutMs: 500 });
    expect(c.childEnv).not.toHaveProperty('REDIS_PASSWORD');
    expect(c.childEnv).not.toHaveProperty('REDIS_SENTINEL_PASSWORD');
    expect(
      loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'redis://r:6379', T2V_REDIS_DURABILITY: 'fsync' })
        .redisDurability.rule,
    ).toBe('fsync');
  });

  it.each([
    [{ REDIS_SENTINELS: 's-0:26379' }, /REDIS_SENTINEL_NAME: required with REDIS_SENTINELS/],
    [{ REDIS_SENTINELS: 's-0', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS="s-0": expected host:port/],
    [
      { REDIS_URL: 'redis://r:6379', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'm' },
      /REDIS_URL, REDIS_SENTINELS: set one of them/,
    ],
    [{ REDIS_URL: 'redis://r:6379', T2V_REDIS_DURABILITY: 'wait' }, /accepted: primary, replicas, fsync/],
    [{ REDIS_URL: 'redis://r:6379', T2V_REDIS_WAIT_TIMEOUT_MS: '5' }, /T2V_REDIS_WAIT_TIMEOUT_MS="5"/],
    [
      { REDIS_URL: 'rediss://r:6379', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' },
      /REDIS_TLS_CA_FILE=.*ENOENT/,
    ],
  ])('refuses the redis settings %j', (env, message) => {
    expect(() => loadConfig({ T2V_QUEUE: 'redis', ...env })).toThrow(message);
  });

  it('reads the CA bundle, and only for TLS', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-ca-'));
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const c = loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'rediss://r:6380', REDIS_TLS_CA_FILE: ca });
    expect(c.redis?.tlsCa).toContain('BEGIN CERTIFICATE');
    expect(() =>
      loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'redis://r:6379', REDIS_TLS_CA_FILE: ca }),
    ).toThrow(/REDIS_TLS_CA_FILE: set, but TLS is off/);
    fs.writeFileSync(ca, 'not a certificate');
    expect(() =>
      loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'rediss://r:6380', REDIS_TLS_CA_FILE: ca }),
    ).toThrow(/expected PEM certificates/);
  });

  it('reads the parameter handling and the model aliases', () => {
    expect(loadConfig({})).toMatchObject({ paramHandling: 'lenient', modelAliases: [] });
    expect(loadConfig({ T2V_PARAM_HANDLING: 'strict' }).paramHandling).toBe('strict');
    expect(() => loadConfig({ T2V_PARAM_HANDLING: 'loose' })).toThrow(/accepted: lenient, strict/);
    expect(
      loadConfig({ T2V_MODEL_ALIASES: 'sora-2=t2v-synthetic, sora-2-pro , gpt:video.1' }).modelAliases,
    ).toEqual([
      { name: 'sora-2', target: 't2v-synthetic' },
      { name: 'sora-2-pro', target: null },
      { name: 'gpt:video.1', target: null },
    ]);
  });

  it.each([
    ['sora 2', /T2V_MODEL_ALIASES: 'sora 2': expected name or name=<model id>/],
    ['a=b=c', /'a=b=c': expected name or name=/],
    ['a=', /'a=': expected name or name=/],
    ['sora-2,sora-2', /sora-2 is given twice/],
  ])('refuses T2V_MODEL_ALIASES=%s', (value, message) => {
    expect(() => loadConfig({ T2V_MODEL_ALIASES: value })).toThrow(message);
  });

  it('pins the JWT algorithms: RS256 unless listed, public-key algorithms only', () => {
    const oidc = {
      T2V_JWT_JWKS_URL: 'https://idp.test/jwks',
      T2V_JWT_ISSUER: 'https://idp.test',
      T2V_JWT_AUDIENCE: 't2v',
    };
    expect(loadConfig(oidc).jwt?.algorithms).toEqual(['RS256']);
    expect(loadConfig({ ...oidc, T2V_JWT_ALGORITHMS: 'ES256, EdDSA' }).jwt?.algorithms).toEqual([
      'ES256',
      'EdDSA',
    ]);
    for (const bad of ['HS256', 'none', 'RS256,HS512'])
      expect(() => loadConfig({ ...oidc, T2V_JWT_ALGORITHMS: bad })).toThrow(
        /T2V_JWT_ALGORITHMS=.*public keys/,
      );
  });

  it('lists the credential values no log line may show', () => {
    const c = loadConfig({
      T2V_API_KEYS: 'plain-key-123456,sha256:' + 'a'.repeat(64),
      T2V_WEBHOOK_SECRET: `whsec_${Buffer.from('0123456789abcdef').toString('base64')}`,
      T2V_QUEUE: 'redis',
      REDIS_URL: 'redis://:url%2Fpass@redis:6379/0',
      REDIS_PASSWORD: 'acl-password',
    });
    expect(secretValues(c)).toEqual([
      'plain-key-123456',
      `whsec_${Buffer.from('0123456789abcdef').toString('base64')}`,
      Buffer.from('0123456789abcdef').toString('base64'),
      'acl-password',
      'url%2Fpass',
      'url/pass',
    ]);
  });

  it('keeps secrets out of the environment handed to workers', () => {
    const c = loadConfig({ T2V_API_KEYS: 'a,b', REDIS_URL: 'redis://x:6379', HOME: '/root' });
    expect(c.apiKeys).toEqual(['a', 'b']);
    expect(c.childEnv).toEqual({ HOME: '/root' });
  });
});

describe('API key attributes (names, scopes, fair-queue weight and caps)', () => {
  it('reads them after the key, from the variable and the file', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-keys-')), 'keys');
    fs.writeFileSync(file, '# ops\nsha256:' + 'a'.repeat(64) + ' name=ops scopes=admin\n');
    const c = loadConfig({
      T2V_API_KEYS: 'key-one name=alice weight=3 max_queued=10 max_running=2, key-two',
      T2V_API_KEYS_FILE: file,
    });
    expect(c.apiKeys).toEqual(['key-one', 'key-two', 'sha256:' + 'a'.repeat(64)]);
    expect(c.keyPolicies).toEqual([
      { name: 'alice', weight: 3, maxQueued: 10, maxRunning: 2, scopes: [] },
      { name: null, weight: 1, maxQueued: null, maxRunning: null, scopes: [] },
      { name: 'ops', weight: 1, maxQueued: null, maxRunning: null, scopes: ['admin'] },
    ]);
  });

  it.each([
    ['key-one colour=red', /"colour" is not an attribute/],
    ['key-one weight=0', /weight must be a whole number/],
    ['key-one scopes=root', /scope "root" is unknown/],
    ['key-one name=a,key-two name=a', /two keys are named a/],
  ])('refuses %s, naming what is wrong', (keys, message) => {
    expect(() => loadConfig({ T2V_API_KEYS: keys })).toThrow(message);
  });
});

describe('image settings', () => {
  it('defaults the image limits', () => {
    expect(loadConfig({})).toMatchObject({ maxImageBytes: 10 * 1024 * 1024, maxImagePixels: 50_000_000 });
  });
});
