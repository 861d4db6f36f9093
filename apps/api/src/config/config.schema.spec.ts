import { ConfigError, loadConfig } from './config.schema';

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
  ])('rejects %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('needs a model path for the wan engine', () => {
    expect(() => loadConfig({ T2V_ENGINE: 'wan' })).toThrow(/T2V_MODEL_PATH: required when T2V_ENGINE=wan/);
  });

  it('accepts the redis driver with a URL, and only with one', () => {
    const c = loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'redis://:pw@t2v-redis:6379/0' });
    expect(c).toMatchObject({
      queue: 'redis',
      redisUrl: 'redis://:pw@t2v-redis:6379/0',
      redisPrefix: 't2v',
      redisLockS: 15,
    });
    expect(() => loadConfig({ T2V_QUEUE: 'redis' })).toThrow(/REDIS_URL: required when T2V_QUEUE=redis/);
    expect(() => loadConfig({ T2V_QUEUE: 'redis', REDIS_URL: 'http://x' })).toThrow(/REDIS_URL="http:\/\/x"/);
    expect(() => loadConfig({ T2V_QUEUE: 'kafka' })).toThrow(/accepted: embedded, redis/);
  });

  it('reads the parameter handling and the model aliases', () => {
    expect(loadConfig({})).toMatchObject({ paramHandling: 'lenient', modelAliases: [] });
    expect(loadConfig({ T2V_PARAM_HANDLING: 'strict' }).paramHandling).toBe('strict');
    expect(() => loadConfig({ T2V_PARAM_HANDLING: 'loose' })).toThrow(/accepted: lenient, strict/);
    expect(
      loadConfig({ T2V_MODEL_ALIASES: 'sora-2=t2v-synthetic, sora-2-pro , gpt:video.1' }).modelAliases,
    ).toEqual(['sora-2', 'sora-2-pro', 'gpt:video.1']);
    expect(
      loadConfig({ T2V_ENGINE: 'wan', T2V_MODEL_PATH: '/m', T2V_MODEL_ALIASES: 'sora-2=Wan2.2-TI2V-5B' })
        .modelAliases,
    ).toEqual(['sora-2']);
  });

  it.each([
    [
      'sora-2=Wan2.2-TI2V-5B',
      /'sora-2=Wan2.2-TI2V-5B': the loaded model is t2v-synthetic \(T2V_ENGINE=synthetic\)/,
    ],
    ['sora 2', /T2V_MODEL_ALIASES: 'sora 2': expected name=t2v-synthetic/],
    ['a=b=c', /'a=b=c': expected name=/],
    ['sora-2,sora-2', /sora-2 is already a name of the model/],
    ['t2v-synthetic', /t2v-synthetic is already a name of the model/],
  ])('refuses T2V_MODEL_ALIASES=%s', (value, message) => {
    expect(() => loadConfig({ T2V_MODEL_ALIASES: value })).toThrow(message);
  });

  it('keeps secrets out of the environment handed to workers', () => {
    const c = loadConfig({ T2V_API_KEYS: 'a,b', REDIS_URL: 'redis://x:6379', HOME: '/root' });
    expect(c.apiKeys).toEqual(['a', 'b']);
    expect(c.childEnv).toEqual({ HOME: '/root' });
  });
});
