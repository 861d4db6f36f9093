import type { AppConfig } from '../config/app-config';
import { MODEL_IDS } from '../config/config.schema';

export interface Range {
  min: number;
  max: number;
  default: number;
}

/** What a loaded model accepts; served by GET /v1/models and used to validate every create. */
export interface ModelDescriptor {
  id: string;
  engine: AppConfig['engine'];
  owned_by: string;
  /** Unix seconds; fixed per model so the listing is stable. */
  created: number;
  description: string;
  /** Other names a request may use for this model (`T2V_MODEL_ALIASES`), e.g. `sora-2`. */
  aliases: string[];
  presets: {
    sizes: string[];
    default_size: string;
    fps: number;
    fps_range: { min: number; max: number };
    seconds: Range;
    max_frames: number;
    /** Width and height are multiples of this (requests are snapped to it). */
    size_multiple: number;
    /** Largest width or height, after snapping. */
    max_side: number;
    /** Largest width × height, after snapping. */
    max_pixels: number;
    num_inference_steps: Range;
    guidance_scale: Range;
    /** Scheduler flow shift used when a request gives none; null: the scheduler's own. */
    flow_shift: number | null;
    max_prompt_length: number;
    /** Width × height × frames a job may have on this deployment's GPUs; null: no budget. */
    max_pixel_frames: number | null;
  };
  /** How this deployment runs the model; a request may opt out with `"acceleration": "none"`. */
  acceleration: {
    compile: AppConfig['compile'];
    cache: string;
    /** Configured attention backend; null: picked by the worker (logged at load). */
    attention: string | null;
    /** T2V_PARALLEL: how one job spreads over a worker group's GPUs. */
    parallel: string;
  };
  /** Path of the model profile in effect, or null. */
  profile: string | null;
  /** What a request may give: `text` (the prompt) and, for image-to-video, `image`. */
  inputs: Array<'text' | 'image'>;
  /** LoRA adapters a request may choose (`T2V_LORAS`, loaded by the worker at start). */
  loras: string[];
}

type ModelConfig = Pick<AppConfig, 'engine' | 'maxPromptLength'> &
  Partial<
    Pick<
      AppConfig,
      | 'compile'
      | 'cache'
      | 'attentionBackend'
      | 'modelProfile'
      | 'maxPixelFrames'
      | 'modelAliases'
      | 'loras'
      | 'parallel'
    >
  >;

/** The engine's model, with its aliases and the profile's id, defaults and ranges applied. */
export function modelFor(config: ModelConfig): ModelDescriptor {
  const base = baseModel(config.engine, config.maxPromptLength);
  const wanEngine = config.engine !== 'synthetic';
  const profile = config.modelProfile?.profile;
  const model: ModelDescriptor = {
    ...base,
    aliases: config.modelAliases ?? [],
    presets: { ...base.presets, max_pixel_frames: config.maxPixelFrames ?? null },
    acceleration: wanEngine
      ? {
          compile: config.compile ?? 'off',
          cache: config.cache ?? 'off',
          attention: config.attentionBackend ?? null,
          parallel: config.parallel ?? 'off',
        }
      : { compile: 'off', cache: 'off', attention: null, parallel: 'off' },
    profile: config.modelProfile?.path ?? null,
    // Wan2.2-TI2V-5B is one model for text- and image-to-video; wan-tiny runs the same pipelines
    // and the synthetic engine starts its test pattern from the image.
    inputs: ['text', 'image'],
    loras: config.loras ?? [],
  };
  if (!profile) return model;
  return {
    ...model,
    id: profile.id ?? model.id,
    description: profile.description ?? model.description,
    presets: {
      ...model.presets,
      num_inference_steps: profile.num_inference_steps ?? model.presets.num_inference_steps,
      guidance_scale: profile.guidance_scale ?? model.presets.guidance_scale,
      flow_shift: profile.flow_shift ?? model.presets.flow_shift,
    },
  };
}

const WAN_SIZES = ['1280x704', '704x1280', '832x480', '480x832'];

/** The Wan 2.2 grid and limits: 32-pixel sides up to 1280, at most 1280×704 pixels (its 720p). */
const WAN_GRID = { size_multiple: 32, max_side: 1280, max_pixels: 1280 * 704 };

function baseModel(
  engine: AppConfig['engine'],
  max_prompt_length: number,
): Omit<ModelDescriptor, 'acceleration' | 'profile' | 'presets' | 'aliases' | 'inputs' | 'loras'> & {
  presets: Omit<ModelDescriptor['presets'], 'max_pixel_frames'>;
} {
  switch (engine) {
    case 'wan':
      return {
        id: MODEL_IDS.wan,
        engine: 'wan',
        owned_by: 'wan-ai',
        created: 1753747200,
        description: 'Wan2.2 text/image-to-video 5B (diffusers WanPipeline), 720p at 24 fps.',
        presets: {
          sizes: WAN_SIZES,
          default_size: '1280x704',
          fps: 24,
          fps_range: { min: 8, max: 30 },
          seconds: { min: 1, max: 5, default: 5 },
          max_frames: 121,
          ...WAN_GRID,
          num_inference_steps: { min: 1, max: 100, default: 50 },
          guidance_scale: { min: 0, max: 20, default: 5 },
          // Wan2.2-TI2V-5B's own configuration; the worker's built-in profile applies the same.
          flow_shift: 5,
          max_prompt_length,
        },
      };
    case 'wan-tiny':
      return {
        id: MODEL_IDS['wan-tiny'],
        engine: 'wan-tiny',
        owned_by: 't2v',
        created: 1764288000,
        description:
          'The Wan pipeline with tiny random weights: exercises the real code path on CPU; output is noise.',
        presets: {
          sizes: ['128x128', '256x128', '128x256', '256x256'],
          default_size: '128x128',
          fps: 8,
          fps_range: { min: 1, max: 30 },
          seconds: { min: 1, max: 4, default: 2 },
          max_frames: 33,
          // rope_max_seq_len=32 positions per axis in the tiny transformer: 512 px = 16 tokens.
          size_multiple: 32,
          max_side: 512,
          max_pixels: 512 * 512,
          num_inference_steps: { min: 1, max: 50, default: 4 },
          guidance_scale: { min: 0, max: 20, default: 5 },
          flow_shift: null,
          max_prompt_length,
        },
      };
    case 'synthetic':
      return {
        id: MODEL_IDS.synthetic,
        engine: 'synthetic',
        owned_by: 't2v',
        created: 1764288000,
        description:
          'Synthetic test pattern (no model): a deterministic moving pattern for tests and quick starts.',
        presets: {
          sizes: [...WAN_SIZES, '320x192', '192x320', '256x256'],
          default_size: '320x192',
          fps: 24,
          fps_range: { min: 1, max: 60 },
          seconds: { min: 1, max: 10, default: 1 },
          max_frames: 241,
          ...WAN_GRID,
          num_inference_steps: { min: 1, max: 100, default: 8 },
          guidance_scale: { min: 0, max: 20, default: 5 },
          flow_shift: null,
          max_prompt_length,
        },
      };
  }
}
