import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import { loadConfig } from '../config/config.schema';
import { engineLaunch } from './engine-command';

const ROOT = resolve(__dirname, '../../../..');

describe('engineLaunch', () => {
  it('starts the synthetic engine project from its sources when the API runs from sources', () => {
    const launch = engineLaunch(
      loadConfig({ PATH: '/usr/bin', T2V_ENGINE: 'synthetic' }),
      'cpu',
      '/usr/bin/ffmpeg',
    );
    const main = resolve(ROOT, 'apps/engine-synthetic/src/main.ts');
    expect(launch.command).toEqual([process.execPath, '-r', '@swc-node/register', main]);
    expect(existsSync(main)).toBe(true);
    expect(launch.env).toMatchObject({
      T2V_ENGINE: 'synthetic',
      T2V_FFMPEG: '/usr/bin/ffmpeg',
      CUDA_VISIBLE_DEVICES: '',
    });
  });

  it('starts the Python worker for the wan engines', () => {
    const launch = engineLaunch(loadConfig({ PATH: '/usr/bin', T2V_ENGINE: 'wan-tiny' }), '0', 'ffmpeg');
    expect(launch.command.slice(-3)).toEqual(['-u', '-m', 't2v_worker']);
    expect(launch.cwd).toBe(resolve(ROOT, 'apps/worker'));
    expect(launch.env['CUDA_VISIBLE_DEVICES']).toBe('0');
  });
});
