import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { WORKSPACE_ROOT } from './workspace-root.js';

/** The committed OpenAPI document (written by `npx nx run api:spec`, checked for drift in CI). */
export const SPEC_PATH = join(WORKSPACE_ROOT, 'libs/sdk/openapi/openapi.json');

/** The parts of a JSON schema node this reader looks at. */
export interface SchemaNode {
  type?: string;
  description?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  properties?: Record<string, SchemaNode>;
  required?: string[];
}

export interface OpenApiSpec {
  components: { schemas: Record<string, SchemaNode> };
}

export function readSpec(path: string = SPEC_PATH): OpenApiSpec {
  return JSON.parse(readFileSync(path, 'utf8')) as OpenApiSpec;
}

export interface Bounds {
  min: number;
  max: number;
}

/** What the spec states about the served model: the limits of a create request. */
export interface SpecLimits {
  /** The loaded model's id (the default of `model`). */
  model: string;
  sizes: string[];
  seconds: Bounds;
  fps_range: Bounds;
  /** Frame counts (from the num_frames description): `frame_multiple`·k + 1, `min_frames` to `max_frames`. */
  min_frames: number;
  max_frames: number;
  frame_multiple: number;
  /** The size grid (from the size description): sides are multiples of this… */
  size_multiple: number;
  /** …at most this long… */
  max_side: number;
  /** …with at most this many pixels. */
  max_pixels: number;
  num_inference_steps: Bounds;
  guidance_scale: Bounds;
  max_prompt_length: number;
}

/** The defaults a fake chooses: the spec states limits, not defaults. Each is checked against the limits. */
export interface PresetDefaults {
  default_size: string;
  fps: number;
  seconds: number;
  num_inference_steps: number;
  guidance_scale: number;
  /** Settings the spec cannot state; null (the scheduler's own, none, no budget) unless given. */
  flow_shift?: number | null;
  negative_prompt?: string | null;
  max_pixel_frames?: number | null;
}

/** A model's `presets`, in the shape of the spec's `Model.presets`. */
export interface ModelPresets {
  sizes: string[];
  default_size: string;
  fps: number;
  fps_range: Bounds;
  seconds: Bounds & { default: number };
  min_frames: number;
  max_frames: number;
  frame_multiple: number;
  size_multiple: number;
  max_side: number;
  max_pixels: number;
  num_inference_steps: Bounds & { default: number };
  guidance_scale: Bounds & { default: number };
  flow_shift: number | null;
  negative_prompt: string | null;
  max_prompt_length: number;
  max_pixel_frames: number | null;
}

export class SpecShapeError extends Error {
  constructor(where: string, expected: string) {
    super(`${SPEC_PATH}: ${where} no longer states ${expected}; update libs/testing/src/openapi-presets.ts`);
    this.name = 'SpecShapeError';
  }
}

function schema(spec: OpenApiSpec, name: string): SchemaNode {
  const node = spec.components?.schemas?.[name];
  if (!node) throw new SpecShapeError(`components.schemas`, `a ${name} schema`);
  return node;
}

function property(parent: SchemaNode, parentName: string, name: string): SchemaNode {
  const node = parent.properties?.[name];
  if (!node) throw new SpecShapeError(`${parentName}.properties`, `'${name}'`);
  return node;
}

function bounds(node: SchemaNode, where: string): Bounds {
  if (typeof node.minimum !== 'number' || typeof node.maximum !== 'number')
    throw new SpecShapeError(where, 'a minimum and a maximum');
  return { min: node.minimum, max: node.maximum };
}

function number(value: number | undefined, where: string, what: string): number {
  if (typeof value !== 'number') throw new SpecShapeError(where, what);
  return value;
}

function described(node: SchemaNode, where: string, pattern: RegExp, what: string): RegExpMatchArray {
  const match = pattern.exec(node.description ?? '');
  if (!match) throw new SpecShapeError(`${where}.description`, what);
  return match;
}

/** Reads the create request's limits from the spec (its constraints and, for sizes, seconds and model, its descriptions). */
export function specLimits(spec: OpenApiSpec = readSpec()): SpecLimits {
  const create = schema(spec, 'CreateVideoRequest');
  const field = (name: string) => property(create, 'CreateVideoRequest', name);
  const at = (name: string) => `CreateVideoRequest.${name}`;
  const sizes = described(
    field('size'),
    at('size'),
    /presets: (\d+x\d+(?:, \d+x\d+)*)\./,
    'the preset sizes',
  );
  const seconds = described(
    field('seconds'),
    at('seconds'),
    /\((\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\)/,
    'a (min-max) range',
  );
  const grid = described(
    field('size'),
    at('size'),
    /(\d+)-pixel grid.*sides \d+-(\d+), at most (\d+) pixels/s,
    'the size grid (N-pixel grid; sides A-B, at most P pixels)',
  );
  const model = described(
    field('model'),
    at('model'),
    /defaults to the loaded model \(([^)]+)\)/,
    'the loaded model',
  );
  const frames = described(
    field('num_frames'),
    at('num_frames'),
    /nearest (\d+)k\+1.*; (\d+)-(\d+) after snapping/s,
    'the frame rule (nearest Nk+1; A-B after snapping)',
  );
  return {
    model: model[1]!,
    sizes: sizes[1]!.split(', '),
    seconds: { min: Number(seconds[1]), max: Number(seconds[2]) },
    fps_range: bounds(field('fps'), at('fps')),
    min_frames: Number(frames[2]),
    max_frames: Number(frames[3]),
    frame_multiple: Number(frames[1]),
    size_multiple: Number(grid[1]),
    max_side: Number(grid[2]),
    max_pixels: Number(grid[3]),
    num_inference_steps: bounds(field('num_inference_steps'), at('num_inference_steps')),
    guidance_scale: bounds(field('guidance_scale'), at('guidance_scale')),
    max_prompt_length: number(field('prompt').maxLength, at('prompt'), 'a maxLength'),
  };
}

function within(value: number, range: Bounds, name: string): number {
  if (!(value >= range.min && value <= range.max))
    throw new RangeError(`default ${name} ${value} is outside the spec's ${range.min}..${range.max}`);
  return value;
}

/**
 * A model's presets as `GET /v1/models` would serve them: the spec's limits with the caller's
 * defaults, each checked against those limits; the keys are checked against `Model.presets`.
 */
export function modelPresets(defaults: PresetDefaults, spec: OpenApiSpec = readSpec()): ModelPresets {
  const limits = specLimits(spec);
  if (!limits.sizes.includes(defaults.default_size))
    throw new RangeError(`default size ${defaults.default_size} is not one of ${limits.sizes.join(', ')}`);
  const presets: ModelPresets = {
    sizes: limits.sizes,
    default_size: defaults.default_size,
    fps: within(defaults.fps, limits.fps_range, 'fps'),
    fps_range: limits.fps_range,
    seconds: { ...limits.seconds, default: within(defaults.seconds, limits.seconds, 'seconds') },
    min_frames: limits.min_frames,
    max_frames: limits.max_frames,
    frame_multiple: limits.frame_multiple,
    size_multiple: limits.size_multiple,
    max_side: limits.max_side,
    max_pixels: limits.max_pixels,
    num_inference_steps: {
      ...limits.num_inference_steps,
      default: within(defaults.num_inference_steps, limits.num_inference_steps, 'num_inference_steps'),
    },
    guidance_scale: {
      ...limits.guidance_scale,
      default: within(defaults.guidance_scale, limits.guidance_scale, 'guidance_scale'),
    },
    flow_shift: defaults.flow_shift ?? null,
    negative_prompt: defaults.negative_prompt ?? null,
    max_prompt_length: limits.max_prompt_length,
    max_pixel_frames: defaults.max_pixel_frames ?? null,
  };
  const wanted = property(schema(spec, 'Model'), 'Model', 'presets').required ?? [];
  const have = Object.keys(presets);
  if (wanted.length !== have.length || !wanted.every((key) => have.includes(key)))
    throw new SpecShapeError(
      'Model.presets.required',
      `the keys ${have.join(', ')} (it says ${wanted.join(', ')})`,
    );
  return presets;
}

/** The values of an enum the spec states, e.g. `enumOf(spec, 'Model', 'engine')`. */
export function enumOf(spec: OpenApiSpec, ...path: [string, ...string[]]): string[] {
  const [name, ...props] = path;
  let node = schema(spec, name);
  let where = name;
  for (const prop of props) {
    node = property(node, where, prop);
    where += `.${prop}`;
  }
  if (!node.enum) throw new SpecShapeError(where, 'an enum');
  return node.enum;
}

/**
 * Throws unless `value` has every property the spec's `name` schema requires and none it does not
 * list (an optional property may be absent, as the API omits it).
 */
export function assertSpecKeys(spec: OpenApiSpec, name: string, value: object): void {
  const node = schema(spec, name);
  const wanted = Object.keys(node.properties ?? {});
  const have = Object.keys(value);
  const missing = (node.required ?? wanted).filter((key) => !have.includes(key));
  const extra = have.filter((key) => !wanted.includes(key));
  if (missing.length || extra.length)
    throw new Error(
      `not a ${name} of ${SPEC_PATH}: missing [${missing.join(', ')}], extra [${extra.join(', ')}]`,
    );
}
