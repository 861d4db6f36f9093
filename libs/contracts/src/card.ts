/**
 * The model card: everything a worker's model accepts and defaults to, described by the worker
 * that loads it (its engine's limits and presets, its profile, its adapters, how it runs). It
 * travels in the worker's `ready` message; the API validates, snaps and documents requests from
 * it and nothing else (docs/adr/0065-gpu-tier-roles-and-the-model-card.md). A worker also prints
 * it without loading anything (`--card`), which is what an API with no worker of its own serves
 * until one has published. The Python worker builds it in `t2v_worker/card.py` and checks it with
 * the same rules (`protocol.py`); both suites read the golden fixtures in `fixtures/card/`.
 */
import {
  arrayOf,
  type Check,
  checkShape,
  nonEmpty,
  nonNegInt,
  nullable,
  num,
  obj,
  oneOf,
  posInt,
  str,
} from './checks';

/**
 * The transformer's weights (`T2V_TRANSFORMER_WEIGHTS`): as the checkpoint has them (`bf16`; float32
 * on a CPU) or torchao float8 (`fp8`, docs/adr/0087-fp8-transformer-weights.md).
 */
export const TRANSFORMER_WEIGHTS = ['bf16', 'fp8'] as const;
export type TransformerWeights = (typeof TRANSFORMER_WEIGHTS)[number];

export const MODEL_INPUTS = ['text', 'image'] as const;
export type ModelInput = (typeof MODEL_INPUTS)[number];

export interface CardRange {
  min: number;
  max: number;
  default: number;
}

export interface ModelCard {
  /** The id `/v1/models` serves and requests may name (a profile may set it). */
  id: string;
  /** `synthetic`, `wan-tiny`, `wan`, … */
  engine: string;
  description: string;
  owned_by: string;
  /** Unix seconds; fixed per model so listings are stable. */
  created: number;
  /** What a request may give: `text` (the prompt) and, for image-to-video, `image`. */
  inputs: ModelInput[];
  size: {
    /** Width and height are multiples of this. */
    multiple: number;
    /** Largest width or height. */
    max_side: number;
    /** Largest width × height. */
    max_pixels: number;
    /** Tested sizes, `WIDTHxHEIGHT`. */
    presets: string[];
    /** The size of a request that names none (one of the presets). */
    default: string;
  };
  /** The frame rule: a clip has `multiple`·k + 1 frames, `min` to `max`. */
  frames: { multiple: number; min: number; max: number };
  fps: CardRange;
  /** Durations a request may ask for (and the default), in seconds. */
  seconds: CardRange;
  num_inference_steps: CardRange;
  guidance_scale: CardRange;
  /** Scheduler flow shift used when a request gives none; null: the scheduler's own. */
  flow_shift: number | null;
  /** Negative prompt used when a request gives none. */
  negative_prompt: string | null;
  /** Longest prompt the engine takes, in characters. */
  max_prompt_chars: number;
  /** LoRA adapters the worker loaded (or, before loading, was configured with). */
  loras: string[];
  /** How the worker runs the model. */
  acceleration: {
    compile: string;
    cache: string;
    attention: string | null;
    parallel: string;
    /** Null for an engine without a transformer. */
    weights: TransformerWeights | null;
  };
  /** The model profile file in effect, or null. */
  profile: string | null;
}

const range: Check = obj({ min: num, max: num, default: num });

/** The shape of a card (exact keys); `cardProblem` adds the rules across fields. */
export const CARD_SHAPE: Record<string, Check> = {
  id: nonEmpty,
  engine: nonEmpty,
  description: str,
  owned_by: nonEmpty,
  created: nonNegInt,
  inputs: arrayOf(oneOf(MODEL_INPUTS)),
  size: obj({
    multiple: posInt,
    max_side: posInt,
    max_pixels: posInt,
    presets: arrayOf(nonEmpty),
    default: nonEmpty,
  }),
  frames: obj({ multiple: posInt, min: posInt, max: posInt }),
  fps: range,
  seconds: range,
  num_inference_steps: range,
  guidance_scale: range,
  flow_shift: nullable(num),
  negative_prompt: nullable(str),
  max_prompt_chars: posInt,
  loras: arrayOf(nonEmpty),
  acceleration: obj({
    compile: nonEmpty,
    cache: nonEmpty,
    attention: nullable(nonEmpty),
    parallel: nonEmpty,
    weights: nullable(oneOf(TRANSFORMER_WEIGHTS)),
  }),
  profile: nullable(nonEmpty),
};

const CARD_ID = /^[A-Za-z0-9][\w.:-]{0,127}$/;
const SIZE = /^(\d+)x(\d+)$/;

function rangeProblem(name: string, r: CardRange, integer: boolean, floor: number): string | null {
  if (integer && ![r.min, r.max, r.default].every(Number.isInteger))
    return `${name}: min, max and default must be integers`;
  if (r.min < floor) return `${name}.min must be at least ${floor}`;
  if (!(r.min <= r.default && r.default <= r.max)) return `${name} needs min <= default <= max`;
  return null;
}

/** The rules across a shape-valid card's fields; null when it holds together, else what does not. */
export function cardProblem(card: ModelCard): string | null {
  if (!CARD_ID.test(card.id)) return `id ${JSON.stringify(card.id)} is not a model id`;
  if (!card.inputs.includes('text')) return 'inputs must include text';
  if (new Set(card.inputs).size !== card.inputs.length) return 'inputs are listed twice';
  const s = card.size;
  if (s.max_side < s.multiple) return 'size.max_side is smaller than size.multiple';
  if (s.max_pixels < s.multiple * s.multiple) return 'size.max_pixels is smaller than one grid cell';
  if (s.presets.length === 0) return 'size.presets is empty';
  if (new Set(s.presets).size !== s.presets.length) return 'size.presets lists a size twice';
  for (const preset of s.presets) {
    const m = SIZE.exec(preset);
    if (!m) return `size preset ${JSON.stringify(preset)} is not WIDTHxHEIGHT`;
    const [w, h] = [Number(m[1]), Number(m[2])];
    if (w % s.multiple !== 0 || h % s.multiple !== 0)
      return `size preset ${preset} is not on the ${s.multiple}-pixel grid`;
    if (w > s.max_side || h > s.max_side || w * h > s.max_pixels)
      return `size preset ${preset} exceeds the size limits`;
  }
  if (!s.presets.includes(s.default)) return `size.default ${s.default} is not one of size.presets`;
  const f = card.frames;
  if ((f.min - 1) % f.multiple !== 0 || (f.max - 1) % f.multiple !== 0)
    return `frames.min and frames.max must be ${f.multiple}k+1`;
  if (f.min > f.max) return 'frames.min exceeds frames.max';
  const problem =
    rangeProblem('fps', card.fps, true, 1) ??
    rangeProblem('seconds', card.seconds, false, 0) ??
    rangeProblem('num_inference_steps', card.num_inference_steps, true, 1) ??
    rangeProblem('guidance_scale', card.guidance_scale, false, 0);
  if (problem) return problem;
  if (card.seconds.min <= 0) return 'seconds.min must be greater than 0';
  if (card.flow_shift !== null && !(card.flow_shift > 0)) return 'flow_shift must be greater than 0';
  if (new Set(card.loras).size !== card.loras.length) return 'loras lists an adapter twice';
  return null;
}

/** Shape and rules of a decoded card; null when it is a valid card, else why not. */
export function modelCardProblem(value: unknown): string | null {
  const shape = checkShape(value, CARD_SHAPE);
  if (shape) return shape;
  return cardProblem(value as ModelCard);
}
