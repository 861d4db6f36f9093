import { TRANSFORMER_WEIGHTS } from '@t2v/contracts';
import { z } from 'zod';

const range = z.object({ min: z.number(), max: z.number(), default: z.number() });

/**
 * The public model object (GET /v1/models): the worker's model card as this deployment serves it.
 * Also documents the spec.
 */
export const modelObjectSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    owned_by: z.string(),
    engine: z.string().describe('The engine that runs the model: synthetic, wan-tiny, wan.'),
    description: z.string(),
    alias_for: z.string().nullable().describe('For an alias: the id of the model it names.'),
    aliases: z.array(z.string()).describe('Other names requests may use for the model.'),
    presets: z.object({
      sizes: z.array(z.string()),
      default_size: z.string(),
      fps: z.number().int(),
      fps_range: z.object({ min: z.number(), max: z.number() }),
      seconds: range,
      min_frames: z.number().int(),
      max_frames: z.number().int(),
      frame_multiple: z
        .number()
        .int()
        .describe('Frame counts are frame_multiple·k + 1 (4k+1); requests are snapped to it.'),
      size_multiple: z.number().int().describe('Width and height are snapped to multiples of this.'),
      max_side: z.number().int().describe('Largest width or height (after snapping).'),
      max_pixels: z.number().int().describe('Largest width × height (after snapping).'),
      num_inference_steps: range,
      guidance_scale: range,
      flow_shift: z
        .number()
        .nullable()
        .describe('Used when a request gives none; null: the scheduler default.'),
      negative_prompt: z.string().nullable().describe('Used when a request gives none.'),
      max_prompt_length: z.number().int(),
      max_pixel_frames: z
        .number()
        .int()
        .nullable()
        .describe(
          'Width × height × frames a job may have on this deployment (GPU memory budget); null: none.',
        ),
    }),
    acceleration: z
      .object({
        compile: z.string().describe('off or blocks'),
        cache: z.string().describe('off or first-block:<threshold>'),
        attention: z
          .string()
          .nullable()
          .describe('Configured attention backend; null: picked by the worker.'),
        parallel: z
          .string()
          .describe(
            'T2V_PARALLEL: off, cfg, ulysses:<N> or cfg+ulysses:<N>; one job runs on 1, 2, N or 2N GPUs.',
          ),
        weights: z
          .enum(TRANSFORMER_WEIGHTS)
          .nullable()
          .describe(
            "T2V_TRANSFORMER_WEIGHTS: bf16 (the checkpoint's own; float32 on a CPU) or fp8 (torchao float8); null: no transformer.",
          ),
      })
      .describe('How this deployment runs the model; a request opts out with "acceleration": "none".'),
    profile: z.string().nullable().describe('Model profile file in effect (defaults and ranges), or null.'),
    inputs: z
      .array(z.enum(['text', 'image']))
      .describe(
        'What a create may give: `text` (the prompt) and `image` (`input_reference`, image-to-video).',
      ),
    loras: z
      .array(z.string())
      .describe('LoRA adapters a create may choose in `lora` (T2V_LORAS); empty when none are loaded.'),
    card: z
      .object({
        source: z
          .enum(['worker', 'configured'])
          .describe(
            'worker: published by a worker that loaded the model; configured: no worker has published ' +
              'yet (a GPU tier scaled to zero since install), so this is what the configured engine and ' +
              'profile describe.',
          ),
        published_at: z.number().int().nullable().describe('When a worker published it (unix seconds).'),
        published_by: z.string().nullable().describe('The process and worker that published it.'),
      })
      .describe('Where this description comes from: the model card of the workers.'),
  })
  .describe('Model');

export type ModelObject = z.infer<typeof modelObjectSchema>;

export const modelListSchema = z.object({ object: z.literal('list'), data: z.array(modelObjectSchema) });
