import type { ModelCard } from '@t2v/contracts';

import type { AppConfig } from '../config/app-config';
import type { PublishedCard } from '../jobs/gpu-registry';
import type { ModelObject } from '../wire/model.schema';

/** Where the card the API serves comes from. */
export interface CardSource {
  /** `worker`: published by a worker that loaded the model; `configured`: no worker has yet. */
  source: 'worker' | 'configured';
  publishedAt: number | null;
  publishedBy: string | null;
}

/**
 * What a loaded model accepts, as `GET /v1/models` serves it and every create is validated
 * against: the worker's card (its only source) with this deployment's own settings (aliases, the
 * prompt length and GPU budget the API enforces).
 */
export interface ModelDescriptor {
  id: string;
  engine: string;
  owned_by: string;
  /** Unix seconds; fixed per model so the listing is stable. */
  created: number;
  description: string;
  /** Other names a request may use for this model (`T2V_MODEL_ALIASES`), e.g. `sora-2`. */
  aliases: string[];
  /** Presets and limits as `GET /v1/models` serves them (`wire/model.schema.ts`). */
  presets: ModelObject['presets'];
  /** How this deployment runs the model; a request may opt out with `"acceleration": "none"`. */
  acceleration: ModelCard['acceleration'];
  /** Path of the model profile in effect, or null. */
  profile: string | null;
  /** What a request may give: `text` (the prompt) and, for image-to-video, `image`. */
  inputs: ModelCard['inputs'];
  /** LoRA adapters a request may choose (`T2V_LORAS`, loaded by the worker at start). */
  loras: string[];
  /** Where the card came from, and when. */
  card: CardSource;
}

type DeploymentSettings = Pick<AppConfig, 'maxPromptLength' | 'maxPixelFrames' | 'modelAliases'>;

/** The card of `published` (or the configured one), as this deployment serves it. */
export function describeModel(
  published: PublishedCard,
  source: CardSource['source'],
  config: DeploymentSettings,
): ModelDescriptor {
  const c = published.card;
  return {
    id: c.id,
    engine: c.engine,
    owned_by: c.owned_by,
    created: c.created,
    description: c.description,
    aliases: config.modelAliases.map((a) => a.name),
    presets: {
      sizes: c.size.presets,
      default_size: c.size.default,
      fps: c.fps.default,
      fps_range: { min: c.fps.min, max: c.fps.max },
      seconds: c.seconds,
      min_frames: c.frames.min,
      max_frames: c.frames.max,
      frame_multiple: c.frames.multiple,
      size_multiple: c.size.multiple,
      max_side: c.size.max_side,
      max_pixels: c.size.max_pixels,
      num_inference_steps: c.num_inference_steps,
      guidance_scale: c.guidance_scale,
      flow_shift: c.flow_shift,
      negative_prompt: c.negative_prompt,
      // The engine's own limit, or this deployment's lower one.
      max_prompt_length: Math.min(config.maxPromptLength, c.max_prompt_chars),
      max_pixel_frames: config.maxPixelFrames ?? null,
    },
    acceleration: c.acceleration,
    profile: c.profile,
    inputs: c.inputs,
    loras: c.loras,
    card: {
      source,
      publishedAt: source === 'worker' ? published.publishedAt : null,
      publishedBy: source === 'worker' ? published.publishedBy : null,
    },
  };
}
