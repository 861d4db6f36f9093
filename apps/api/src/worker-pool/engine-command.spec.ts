import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadConfig } from '../config/config.schema';
import { cardLaunch, engineLaunch } from './engine-command';

const ROOT = path.resolve(__dirname, '../../../..');

describe('engineLaunch', () => {
  it('starts the synthetic engine project from its sources when the API runs from sources', () => {
    const launch = engineLaunch(
      loadConfig({ PATH: '/usr/bin', T2V_ENGINE: 'synthetic' }),
      'cpu',
      '/usr/bin/ffmpeg',
    );
    const main = path.resolve(ROOT, 'apps/engine-synthetic/src/main.ts');
    expect(launch.command).toEqual([process.execPath, '-r', '@swc-node/register', main]);
    expect(fs.existsSync(main)).toBe(true);
    expect(launch.env).toMatchObject({
      T2V_ENGINE: 'synthetic',
      T2V_FFMPEG: '/usr/bin/ffmpeg',
      CUDA_VISIBLE_DEVICES: '',
    });
  });

  it('starts the Python worker for the wan engines', () => {
    const launch = engineLaunch(loadConfig({ PATH: '/usr/bin', T2V_ENGINE: 'wan-tiny' }), '0', 'ffmpeg');
    expect(launch.command.slice(-3)).toEqual(['-u', '-m', 't2v_worker']);
    expect(launch.cwd).toBe(path.resolve(ROOT, 'apps/worker'));
    expect(launch.env['CUDA_VISIBLE_DEVICES']).toBe('0');
    // Device numbers as nvidia-smi and DCGM count them, so metrics and logs name the right GPU.
    expect(launch.env['CUDA_DEVICE_ORDER']).toBe('PCI_BUS_ID');
  });
});

describe('engineLaunch: the acceleration options reach the Python worker', () => {
  it('passes compile, cache and profile; the worker warms up for its own preset sizes', () => {
    const profile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-launch-')), 'p.json');
    fs.writeFileSync(profile, JSON.stringify({ num_inference_steps: { min: 1, max: 8, default: 3 } }));
    const config = loadConfig({
      T2V_ENGINE: 'wan-tiny',
      T2V_COMPILE: 'blocks',
      T2V_CACHE: 'first-block:0.05',
      T2V_MODEL_PROFILE: profile,
      T2V_ATTENTION_BACKEND: 'native',
    });
    const { env } = engineLaunch(config, 'cpu', '/usr/bin/ffmpeg');
    expect(env).toMatchObject({
      T2V_COMPILE: 'blocks',
      T2V_CACHE: 'first-block:0.05',
      T2V_MODEL_PROFILE: profile,
      T2V_ATTENTION_BACKEND: 'native',
    });
    // The API knows no preset of the model: the worker takes them from its own card.
    expect(env['T2V_WARMUP_SHAPES']).toBeUndefined();
  });

  it('leaves the profile out when none is configured', () => {
    const { env } = engineLaunch(loadConfig({ T2V_ENGINE: 'wan-tiny' }), 'cpu', '/usr/bin/ffmpeg');
    expect(env).toMatchObject({ T2V_COMPILE: 'off', T2V_CACHE: 'off' });
    expect(env['T2V_WARMUP_SHAPES']).toBeUndefined();
    expect(env['T2V_MODEL_PROFILE']).toBeUndefined();
  });

  it('passes the decode and weights options, defaults included', () => {
    const defaults = engineLaunch(loadConfig({ T2V_ENGINE: 'wan-tiny' }), 'cpu', '/usr/bin/ffmpeg').env;
    expect(defaults).toMatchObject({
      T2V_STREAM_DECODE: 'true',
      T2V_VAE_DECODE_BUDGET_MIB: 'auto',
      T2V_TRANSFORMER_WEIGHTS: 'bf16',
    });
    const config = loadConfig({
      T2V_ENGINE: 'wan-tiny',
      T2V_DEVICES: '0',
      T2V_STREAM_DECODE: '0',
      T2V_VAE_DECODE_BUDGET_MIB: '12000',
      T2V_TRANSFORMER_WEIGHTS: 'fp8',
    });
    expect(engineLaunch(config, '0', '/usr/bin/ffmpeg').env).toMatchObject({
      T2V_STREAM_DECODE: 'false',
      T2V_VAE_DECODE_BUDGET_MIB: '12000',
      T2V_TRANSFORMER_WEIGHTS: 'fp8',
    });
  });
});

describe('cardLaunch', () => {
  it('asks the configured engine for its card, even when a test double replaces the workers', () => {
    const config = loadConfig({ T2V_ENGINE: 'wan-tiny', T2V_WORKER_COMMAND: '["node","fake.js"]' });
    const launch = cardLaunch(config);
    expect(launch.command.slice(-4)).toEqual(['-u', '-m', 't2v_worker', '--card']);
    expect(launch.env).toMatchObject({ T2V_ENGINE: 'wan-tiny', CUDA_VISIBLE_DEVICES: '' });
  });
});
