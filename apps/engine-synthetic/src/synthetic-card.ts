import type { ModelCard } from '@t2v/contracts';

import type { SyntheticConfig } from './synthetic.config';

export const SYNTHETIC_MODEL = 't2v-synthetic';
export const SYNTHETIC_ENGINE = 'synthetic';

/**
 * The synthetic engine's model card: the one description of what it accepts. It has no model:
 * it takes Wan2.2's grid (32-pixel sides up to 1280×704, 4k+1 frames) so requests are checked as
 * they would be on the real engine, with small presets and a short default for quick starts.
 */
export function syntheticCard(config: Pick<SyntheticConfig, 'loras'>): ModelCard {
  return {
    id: SYNTHETIC_MODEL,
    engine: SYNTHETIC_ENGINE,
    description:
      'Synthetic test pattern (no model): a deterministic moving pattern for tests and quick starts.',
    owned_by: 't2v',
    created: 1764288000,
    // It starts its pattern from an image (image-to-video) as the real model does.
    inputs: ['text', 'image'],
    size: {
      multiple: 32,
      max_side: 1280,
      max_pixels: 1280 * 704,
      presets: ['1280x704', '704x1280', '832x480', '480x832', '320x192', '192x320', '256x256'],
      default: '320x192',
    },
    frames: { multiple: 4, min: 5, max: 241 },
    fps: { min: 1, max: 60, default: 24 },
    seconds: { min: 1, max: 10, default: 1 },
    num_inference_steps: { min: 1, max: 100, default: 8 },
    guidance_scale: { min: 0, max: 20, default: 5 },
    flow_shift: null,
    negative_prompt: null,
    // No tokenizer: the API's own limit (T2V_MAX_PROMPT_LENGTH, at most 100000) is the only one.
    max_prompt_chars: 100_000,
    // No weights to adapt: the configured names are reported as loaded (see TestPattern).
    loras: config.loras,
    acceleration: { compile: 'off', cache: 'off', attention: null, parallel: 'off', weights: null },
    profile: null,
  };
}
