import { ConfigError, loadConfig } from '../config/config.schema';
import { configuredCard } from '../models/configured-card';
import { engineLaunch } from './engine-command';
import { WorkerPoolService } from './worker-pool.service';

/** A worker that never becomes ready: enough to see what the pool starts, and where. */
const IDLE_WORKER = JSON.stringify([process.execPath, '-e', 'setInterval(() => {}, 1000)']);

describe('worker groups (T2V_PARALLEL)', () => {
  it('groups the GPUs of T2V_DEVICES into one worker per group, in order', async () => {
    const config = loadConfig({
      T2V_ENGINE: 'wan-tiny',
      T2V_DEVICES: '0,1,2,3',
      T2V_PARALLEL: 'cfg',
      T2V_WORKER_COMMAND: IDLE_WORKER,
    });
    expect(config).toMatchObject({ devices: ['0,1', '2,3'], parallel: 'cfg', groupSize: 2 });
    const pool = new WorkerPoolService(config);
    pool.start();
    try {
      expect(pool.workers.map((w) => [w.spec.id, w.spec.device])).toEqual([
        ['gpu-0+1', 'cuda:0,1'],
        ['gpu-2+3', 'cuda:2,3'],
      ]);
      // Each group's rank 0 sees exactly its group's GPUs and starts the other ranks itself.
      expect(pool.workers.map((w) => w.spec.env['CUDA_VISIBLE_DEVICES'])).toEqual(['0,1', '2,3']);
    } finally {
      await pool.stop(1000);
    }
  });

  it('passes T2V_PARALLEL to the Python worker', () => {
    const config = loadConfig({
      T2V_ENGINE: 'wan-tiny',
      T2V_DEVICES: '4,5,6,7',
      T2V_PARALLEL: 'cfg+ulysses:2',
    });
    expect(config.devices).toEqual(['4,5,6,7']);
    const launch = engineLaunch(config, config.devices[0]!, 'ffmpeg');
    expect(launch.env).toMatchObject({
      T2V_PARALLEL: 'cfg+ulysses:2',
      CUDA_VISIBLE_DEVICES: '4,5,6,7',
      T2V_WORKER_DEVICE: 'cuda',
    });
    expect(
      loadConfig({ T2V_ENGINE: 'wan-tiny', T2V_DEVICES: '0,1', T2V_PARALLEL: 'ulysses:2' }).devices,
    ).toEqual(['0,1']);
  });

  it('the worker states the group layout in its model card (GET /v1/models acceleration.parallel)', () => {
    const config = loadConfig({ T2V_ENGINE: 'wan-tiny', T2V_DEVICES: '0,1', T2V_PARALLEL: 'ulysses:2' });
    expect(configuredCard(config).acceleration.parallel).toBe('ulysses:2');
    expect(configuredCard(loadConfig({ T2V_ENGINE: 'wan-tiny' })).acceleration.parallel).toBe('off');
  });

  it('keeps one worker per device without T2V_PARALLEL, and CPU workers as CPU groups', () => {
    expect(loadConfig({ T2V_DEVICES: '0,1' })).toMatchObject({ devices: ['0', '1'], groupSize: 1 });
    expect(loadConfig({ T2V_ENGINE: 'wan-tiny', T2V_CPU_WORKERS: '2', T2V_PARALLEL: 'cfg' })).toMatchObject({
      devices: ['cpu', 'cpu'],
      groupSize: 2,
    });
  });

  it.each([
    [
      { T2V_ENGINE: 'wan-tiny', T2V_DEVICES: '0,1,2', T2V_PARALLEL: 'cfg' },
      /T2V_DEVICES="0,1,2": 3 GPU\(s\) do not form whole groups of 2.*multiple of 2/,
    ],
    [{ T2V_ENGINE: 'wan-tiny', T2V_DEVICES: '0,1', T2V_PARALLEL: 'cfg+ulysses:2' }, /whole groups of 4/],
    [
      { T2V_ENGINE: 'wan-tiny', T2V_PARALLEL: 'ulysses:1' },
      /T2V_PARALLEL="ulysses:1": must be off, cfg, ulysses:<N in 2..8>/,
    ],
    [{ T2V_ENGINE: 'wan-tiny', T2V_PARALLEL: 'tensor:2' }, /T2V_PARALLEL="tensor:2"/],
    [
      { T2V_ENGINE: 'synthetic', T2V_PARALLEL: 'cfg' },
      /T2V_PARALLEL="cfg": applies to the wan and wan-tiny engines only/,
    ],
  ])('refuses %j at boot', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
