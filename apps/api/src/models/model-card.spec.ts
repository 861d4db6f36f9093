import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { modelCardProblem } from '@t2v/contracts';
import { goldenCard } from '@t2v/testing/cards';

import { ConfigError, loadConfig } from '../config/config.schema';
import { LocalGpuRegistry } from '../jobs/gpu-registry';
import { configuredCard } from './configured-card';
import { ModelCardService } from './model-card.service';
import type { ModelDescriptor } from './model-description';

jest.setTimeout(60_000);

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 't2v-card-'));

/** The card the API serves before any worker publishes: the configured engine's own, from `--card`. */
describe('the configured card (from the engine, nothing loaded)', () => {
  it('is the synthetic engine card by default, valid under the shared rules', () => {
    const card = configuredCard(loadConfig({}));
    expect(modelCardProblem(card)).toBeNull();
    expect(card).toMatchObject({ id: 't2v-synthetic', engine: 'synthetic', size: { default: '320x192' } });
  });

  it('is the Python worker card for the wan engines, with the profile applied', () => {
    const dir = tmp();
    fs.writeFileSync(
      path.join(dir, 't2v-profile.json'),
      JSON.stringify({ id: 'FastWan2.2-TI2V-5B', num_inference_steps: { min: 1, max: 8, default: 3 } }),
    );
    const card = configuredCard(loadConfig({ T2V_ENGINE: 'wan', T2V_MODEL_PATH: dir }));
    expect(card).toEqual({
      ...goldenCard('Wan2.2-TI2V-5B'),
      id: 'FastWan2.2-TI2V-5B',
      num_inference_steps: { min: 1, max: 8, default: 3 },
      profile: path.join(dir, 't2v-profile.json'),
    });
  });

  it.each([
    [
      { T2V_ENGINE: 'wan-tiny', T2V_MODEL_PROFILE: '/nowhere/p.json' },
      /model profile \/nowhere\/p\.json: cannot read/,
    ],
    [{ T2V_LORAS: 'style' }, /T2V_LORAS: 'style' is not <name>=<path>/],
    [{ T2V_LORAS: 'x=/a,x=/b' }, /adapter name 'x' is given twice/],
    [{ T2V_ENGINE: 'wan-tiny', T2V_LORAS: 'a b=/x' }, /T2V_LORAS: adapter name 'a b' must be/],
  ])('stops the boot when the engine refuses the settings (%j), with its reason', (env, message) => {
    const config = loadConfig(env);
    expect(() => configuredCard(config)).toThrow(ConfigError);
    expect(() => configuredCard(config)).toThrow(message);
  });

  it('refuses a bad profile with the worker’s own words', () => {
    const file = path.join(tmp(), 'p.json');
    fs.writeFileSync(file, '{"guidance_scale":{"min":0,"max":1,"default":2}}');
    expect(() => configuredCard(loadConfig({ T2V_ENGINE: 'wan-tiny', T2V_MODEL_PROFILE: file }))).toThrow(
      /guidance_scale needs min <= default <= max/,
    );
  });
});

describe('ModelCardService', () => {
  const config = loadConfig({ T2V_MODEL_ALIASES: 'sora-2' });

  it('serves the configured card, says so, then the card a worker publishes', async () => {
    const registry = new LocalGpuRegistry();
    const cards = new ModelCardService(config, { registry, whenOpen: async () => undefined });
    expect(cards.model).toMatchObject({
      id: 't2v-synthetic',
      aliases: ['sora-2'],
      card: { source: 'configured', publishedAt: null },
    });
    const changed: ModelDescriptor[] = [];
    cards.on('changed', (m: ModelDescriptor) => changed.push(m));
    const custom = {
      ...goldenCard('wan-tiny-random'),
      id: 'my-tiny',
      seconds: { min: 1, max: 3, default: 3 },
    };
    await registry.publishCard({ card: custom, publishedAt: 2000, publishedBy: 'gpu-0:1/cpu-0' });
    expect(cards.model).toMatchObject({
      id: 'my-tiny',
      engine: 'wan-tiny',
      presets: { seconds: { min: 1, max: 3, default: 3 }, max_frames: 65, default_size: '128x128' },
      card: { source: 'worker', publishedAt: 2000, publishedBy: 'gpu-0:1/cpu-0' },
    });
    expect(changed.map((m) => m.id)).toEqual(['my-tiny']);
    // An older publication (a late message) does not go back; the same card again is no change.
    await registry.publishCard({
      card: goldenCard('wan-tiny-random'),
      publishedAt: 1000,
      publishedBy: 'old',
    });
    await registry.publishCard({ card: custom, publishedAt: 3000, publishedBy: 'gpu-1:1/cpu-0' });
    expect(cards.model).toMatchObject({ id: 'my-tiny', card: { publishedBy: 'gpu-1:1/cpu-0' } });
    expect(changed).toHaveLength(1);
  });

  it('reads the last published card at start (an API tier restarted while the GPU tier runs)', async () => {
    const registry = new LocalGpuRegistry();
    await registry.publishCard({ card: goldenCard('Wan2.2-TI2V-5B'), publishedAt: 5, publishedBy: 'gpu' });
    const cards = new ModelCardService(config, { registry, whenOpen: async () => undefined });
    cards.onApplicationBootstrap();
    await new Promise((r) => setImmediate(r));
    cards.onApplicationShutdown();
    expect(cards.model).toMatchObject({ id: 'Wan2.2-TI2V-5B', card: { source: 'worker' } });
  });

  it('refuses an alias that names another model than the configured one', () => {
    const wrong = loadConfig({ T2V_MODEL_ALIASES: 'sora-2=Wan2.2-TI2V-5B' });
    expect(
      () =>
        new ModelCardService(wrong, { registry: new LocalGpuRegistry(), whenOpen: async () => undefined }),
    ).toThrow(/'sora-2=Wan2.2-TI2V-5B': the loaded model is t2v-synthetic \(T2V_ENGINE=synthetic\)/);
  });
});
