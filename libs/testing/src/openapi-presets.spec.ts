import {
  assertSpecKeys,
  enumOf,
  modelPresets,
  readSpec,
  SpecShapeError,
  specLimits,
} from './openapi-presets.js';

const DEFAULTS = { default_size: '320x192', fps: 24, seconds: 1, num_inference_steps: 8, guidance_scale: 5 };

/** A copy of the committed spec with one change, to see the reader refuse it. */
function edited(change: (spec: ReturnType<typeof readSpec>) => void) {
  const spec = readSpec();
  change(spec);
  return spec;
}

describe('the committed spec as presets', () => {
  const spec = readSpec();
  const create = spec.components.schemas['CreateVideoRequest']!.properties!;

  it('reads the create limits from the constraints and descriptions', () => {
    const limits = specLimits(spec);
    expect(limits.model).toBe('t2v-synthetic');
    expect(limits.sizes).toContain('320x192');
    expect(limits.sizes.every((s) => /^\d+x\d+$/.test(s))).toBe(true);
    expect(create['size']!.description).toContain(limits.sizes.join(', '));
    expect(limits.fps_range).toEqual({ min: create['fps']!.minimum, max: create['fps']!.maximum });
    expect(create['num_frames']!.description).toContain(`nearest ${limits.frame_multiple}k+1`);
    expect(create['num_frames']!.description).toContain(
      `${limits.min_frames}-${limits.max_frames} after snapping`,
    );
    expect(limits.max_prompt_length).toBe(create['prompt']!.maxLength);
    expect(limits.seconds.min).toBeLessThan(limits.seconds.max);
    expect(create['size']!.description).toContain(`${limits.size_multiple}-pixel grid`);
    expect(limits.max_side % limits.size_multiple).toBe(0);
    expect(limits.max_pixels).toBeGreaterThanOrEqual(limits.max_side * limits.size_multiple);
  });

  it('serves presets with exactly the keys of Model.presets', () => {
    const presets = modelPresets(DEFAULTS, spec);
    expect(Object.keys(presets).sort()).toEqual(
      [...spec.components.schemas['Model']!.properties!['presets']!.required!].sort(),
    );
    expect(presets.seconds).toEqual({ ...specLimits(spec).seconds, default: 1 });
  });

  it('refuses a default outside the spec', () => {
    expect(() => modelPresets({ ...DEFAULTS, default_size: '7x7' }, spec)).toThrow(/default size 7x7/);
    expect(() => modelPresets({ ...DEFAULTS, num_inference_steps: 10_000 }, spec)).toThrow(
      /num_inference_steps 10000 is outside/,
    );
  });

  it('names what it can no longer find', () => {
    const noSizes = edited(
      (s) => delete s.components.schemas['CreateVideoRequest']!.properties!['size']!.description,
    );
    expect(() => specLimits(noSizes)).toThrow(SpecShapeError);
    expect(() => specLimits(noSizes)).toThrow(
      /CreateVideoRequest.size.description no longer states the preset sizes/,
    );
    const noFps = edited(
      (s) => delete s.components.schemas['CreateVideoRequest']!.properties!['fps']!.maximum,
    );
    expect(() => specLimits(noFps)).toThrow(
      /CreateVideoRequest.fps no longer states a minimum and a maximum/,
    );
    const morePresets = edited((s) =>
      s.components.schemas['Model']!.properties!['presets']!.required!.push('new_one'),
    );
    expect(() => modelPresets(DEFAULTS, morePresets)).toThrow(/Model.presets.required/);
  });

  it('reads enums and checks object keys', () => {
    expect(enumOf(spec, 'ErrorResponse', 'error', 'code')).toContain('unsupported_size');
    expect(() => enumOf(spec, 'Video', 'id')).toThrow(/Video.id no longer states an enum/);
    expect(() =>
      assertSpecKeys(spec, 'VideoDeleted', { id: 'v', object: 'video.deleted', deleted: true }),
    ).not.toThrow();
    expect(() => assertSpecKeys(spec, 'VideoDeleted', { id: 'v', deleted: true, extra: 1 })).toThrow(
      /missing \[object\], extra \[extra\]/,
    );
  });
});
