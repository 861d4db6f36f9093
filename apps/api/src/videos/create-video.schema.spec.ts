import { goldenCard } from '@t2v/testing/cards';

import { ApiError } from '../common/api-error';
import type { AppConfig } from '../config/app-config';
import { describeModel } from '../models/model-description';
import { createVideoSchema, type Handling, resolveCreate, zodToApiError } from './create-video.schema';

/** A model as a worker with that card would have it served, with these deployment settings. */
function served(id: string, settings: Partial<Pick<AppConfig, 'maxPixelFrames' | 'modelAliases'>> = {}) {
  return describeModel({ card: goldenCard(id), publishedAt: 1, publishedBy: 'test' }, 'worker', {
    maxPromptLength: 100,
    maxPixelFrames: undefined,
    modelAliases: [],
    ...settings,
  });
}

const wan = served('Wan2.2-TI2V-5B', { modelAliases: [{ name: 'sora-2', target: null }] });
const schema = createVideoSchema(wan);
const resolve = (body: Record<string, unknown>, handling: Handling = 'lenient') => {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(schema.shape), body);
  return resolveCreate(parsed.data, wan, () => 7, handling);
};
const refusal = (body: Record<string, unknown>, handling: Handling = 'lenient') => {
  try {
    resolve(body, handling);
  } catch (err) {
    if (err instanceof ApiError)
      return { status: err.status, param: err.param, code: err.code, message: err.message };
  }
  throw new Error('accepted');
};

describe('create request resolution (Wan2.2-TI2V-5B presets)', () => {
  it('defaults to 1280x704, 5 s at 24 fps = 121 frames, 50 steps, a random seed', () => {
    const r = resolve({ prompt: 'a cat' });
    expect(r.params).toMatchObject({
      width: 1280,
      height: 704,
      num_frames: 121,
      fps: 24,
      num_inference_steps: 50,
      seed: 7,
      // Wan2.2-TI2V-5B's own configuration (the worker's built-in profile says the same).
      guidance_scale: 5,
      flow_shift: 5,
      // null: the worker applies the model's default negative prompt; "" would mean none.
      negative_prompt: null,
    });
    expect(resolve({ prompt: 'a cat', negative_prompt: '' }).params.negative_prompt).toBe('');
    expect(r.seconds).toBe('5');
    expect(r.seedExplicit).toBe(false);
  });

  it.each([
    [1, 25],
    [2, 49],
    [4, 97],
    [5, 121],
    ['3', 73],
  ])('turns %s seconds into %i frames (4k+1)', (seconds, frames) => {
    expect(resolve({ prompt: 'p', seconds }).params.num_frames).toBe(frames);
  });

  it('accepts width/height/num_frames on the grid as they are', () => {
    const r = resolve({ prompt: 'p', width: 832, height: 480, num_frames: 81, flow_shift: 5 });
    expect(r.params).toMatchObject({ width: 832, height: 480, num_frames: 81, flow_shift: 5 });
    expect(r.seconds).toBe('3.33');
  });

  it('refuses a size beyond the model limits, naming them and the presets', () => {
    expect(refusal({ prompt: 'p', size: '1920x1080' })).toEqual({
      status: 400,
      param: 'size',
      code: 'unsupported_size',
      message:
        "Unsupported size '1920x1080' (1920x1056 on the 32-pixel grid): sides must be 32 to 1280 pixels " +
        '(multiples of 32) and at most 901120 pixels in all. Tested presets: 1280x704, 704x1280, 832x480, 480x832.',
    });
    expect(refusal({ prompt: 'p', width: 1280, height: 1280 })).toMatchObject({ param: 'width' });
    expect(refusal({ prompt: 'p', size: '7x7' })).toMatchObject({ param: 'size', code: 'unsupported_size' });
    expect(refusal({ prompt: 'p', width: 640, height: 20 })).toMatchObject({ param: 'height' });
  });

  it('refuses more frames than the model makes', () => {
    expect(refusal({ prompt: 'p', seconds: 5, fps: 30 })).toMatchObject({
      param: 'seconds',
      message: expect.stringMatching(/5 s at 30 fps is 149 frames; the model makes 5 to 121 frames/),
    });
    expect(refusal({ prompt: 'p', num_frames: 124 })).toMatchObject({ param: 'num_frames' });
    expect(resolve({ prompt: 'p', num_frames: 123 }).params.num_frames).toBe(121);
    expect(refusal({ prompt: 'p', num_frames: 3 })).toMatchObject({ param: 'num_frames' });
  });

  it.each([
    [
      'size',
      { size: '1280x720' },
      { width: 1280, height: 704 },
      { size: { requested: '1280x720', used: '1280x704' } },
    ],
    [
      'size',
      { size: '720x1280' },
      { width: 704, height: 1280 },
      { size: { requested: '720x1280', used: '704x1280' } },
    ],
    [
      'height',
      { width: 1280, height: 720 },
      { width: 1280, height: 704 },
      { height: { requested: 720, used: 704 } },
    ],
    [
      'width',
      { width: 854, height: 480 },
      { width: 832, height: 480 },
      { width: { requested: 854, used: 832 } },
    ],
    ['num_frames', { num_frames: 80 }, { num_frames: 81 }, { num_frames: { requested: 80, used: 81 } }],
    ['seconds', { seconds: 1, fps: 30 }, { num_frames: 29 }, { seconds: { requested: '1', used: '0.93' } }],
  ])('snaps %s and reports it, or refuses it under handling=strict', (field, body, params, adjusted) => {
    const r = resolve({ prompt: 'p', ...body });
    expect(r.params).toMatchObject(params);
    expect(r.adjusted).toEqual(adjusted);
    const refused = refusal({ prompt: 'p', ...body }, 'strict');
    expect(refused).toMatchObject({ status: 400, param: field });
    expect(refused.message).toMatch(/Refused under handling=strict/);
  });

  it("takes vLLM-Omni's quick start: 1280x720, 80 frames at 16 fps → 1280x704, 81 frames, 5 s", () => {
    const r = resolve({
      prompt: 'p',
      width: 1280,
      height: 720,
      num_frames: 80,
      fps: 16,
      num_inference_steps: 40,
    });
    expect(r.params).toMatchObject({
      width: 1280,
      height: 704,
      num_frames: 81,
      fps: 16,
      num_inference_steps: 40,
    });
    expect(r.seconds).toBe('5');
    expect(r.adjusted).toEqual({
      height: { requested: 720, used: 704 },
      num_frames: { requested: 80, used: 81 },
    });
  });

  it('adjusts nothing (and strict accepts) what is on the grid', () => {
    for (const body of [{}, { size: '832x480', num_frames: 81 }, { seconds: 4 }, { seconds: '3', fps: 16 }]) {
      expect(resolve({ prompt: 'p', ...body }).adjusted).toEqual({});
      expect(resolve({ prompt: 'p', ...body }, 'strict').adjusted).toEqual({});
    }
  });

  it('reports a value both off the grid and out of range as out of range, strict or not', () => {
    expect(refusal({ prompt: 'p', num_frames: 124 }, 'strict').message).toMatch(
      /the model makes 5 to 121 frames/,
    );
    expect(refusal({ prompt: 'p', size: '1920x1080' }, 'strict').message).toMatch(/sides must be 32 to 1280/);
  });

  it('compares seconds with num_frames after snapping', () => {
    expect(resolve({ prompt: 'p', num_frames: 80, seconds: 5, fps: 16 }).params.num_frames).toBe(81);
    expect(refusal({ prompt: 'p', num_frames: 80, seconds: 4, fps: 16 })).toMatchObject({
      param: 'num_frames',
      code: 'conflicting_fields',
    });
  });

  it('accepts the configured aliases as the model, and lists them for an unknown one', () => {
    expect(resolve({ prompt: 'p', model: 'sora-2' }).model).toBe('Wan2.2-TI2V-5B');
    expect(refusal({ prompt: 'p', model: 'sora-2-pro' })).toMatchObject({
      param: 'model',
      message: "Unknown model 'sora-2-pro'. Available: Wan2.2-TI2V-5B, sora-2.",
    });
  });

  it('keeps a bounded user', () => {
    expect(resolve({ prompt: 'p', user: 'user-123' }).user).toBe('user-123');
    expect(resolve({ prompt: 'p' }).user).toBeNull();
    expect(refusal({ prompt: 'p', user: 'x'.repeat(257) })).toMatchObject({ param: 'user' });
    expect(refusal({ prompt: 'p', user: '' })).toMatchObject({ param: 'user' });
    expect(refusal({ prompt: 'p', user: 'a\nb' })).toMatchObject({ param: 'user' });
  });

  it('bounds the prompt length by configuration', () => {
    expect(() => resolve({ prompt: 'x'.repeat(101) })).toThrow(/at most 100 characters/);
  });

  it('marks an explicit seed (cacheable)', () => {
    expect(resolve({ prompt: 'p', seed: 0 })).toMatchObject({ seedExplicit: true, params: { seed: 0 } });
  });
});

describe('create request resolution with a distilled-checkpoint profile', () => {
  const fast = served('FastWan2.2-TI2V-5B');
  const fastSchema = createVideoSchema(fast);
  const resolveFast = (body: Record<string, unknown>) => {
    const parsed = fastSchema.safeParse(body);
    if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(fastSchema.shape), body);
    return resolveCreate(parsed.data, fast, () => 7);
  };

  it('serves the profile in the model presets', () => {
    expect(fast).toMatchObject({
      id: 'FastWan2.2-TI2V-5B',
      profile: '/models/FastWan/t2v-profile.json',
      acceleration: { compile: 'blocks', cache: 'first-block:0.05', attention: 'flash' },
      presets: {
        num_inference_steps: { min: 1, max: 8, default: 3 },
        guidance_scale: { min: 0, max: 1, default: 1 },
        flow_shift: 8,
        default_size: '1280x704',
      },
    });
  });

  it('defaults to the profile: 3 steps, guidance 1, its flow shift, acceleration auto', () => {
    expect(resolveFast({ prompt: 'p' }).params).toMatchObject({
      num_inference_steps: 3,
      guidance_scale: 1,
      flow_shift: 8,
      acceleration: 'auto',
    });
    expect(resolveFast({ prompt: 'p', flow_shift: 5, acceleration: 'none' }).params).toMatchObject({
      flow_shift: 5,
      acceleration: 'none',
    });
  });

  it.each([
    [{ num_inference_steps: 50 }, 'num_inference_steps'],
    [{ guidance_scale: 5 }, 'guidance_scale'],
    [{ acceleration: 'fast' }, 'acceleration'],
  ])('refuses %j outside the profile, naming the field', (extra, param) => {
    expect(() => resolveFast({ prompt: 'p', ...extra })).toThrow(expect.objectContaining({ param }));
  });
});

describe('the per-GPU pixel-frame budget (T2V_MAX_PIXEL_FRAMES)', () => {
  const budget = 1280 * 704 * 65;
  const small = served('Wan2.2-TI2V-5B', { maxPixelFrames: budget });
  const smallSchema = createVideoSchema(small);
  const resolveSmall = (body: Record<string, unknown>) => {
    const parsed = smallSchema.safeParse(body);
    if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(smallSchema.shape), body);
    return resolveCreate(parsed.data, small, () => 7);
  };

  it('is served with the presets', () => {
    expect(small.presets.max_pixel_frames).toBe(budget);
    expect(wan.presets.max_pixel_frames).toBeNull();
  });

  it('refuses a job over it with what fits at that size, and accepts what fits', () => {
    expect(() => resolveSmall({ prompt: 'p' })).toThrow(
      expect.objectContaining({
        status: 400,
        param: 'seconds',
        message:
          "1280x704 × 121 frames exceeds this deployment's GPU memory budget of 58572800 pixel-frames " +
          '(T2V_MAX_PIXEL_FRAMES); at 1280x704 up to 65 frames (2.67 s at 24 fps) fit.',
      }),
    );
    expect(() => resolveSmall({ prompt: 'p', num_frames: 81 })).toThrow(
      expect.objectContaining({ param: 'num_frames' }),
    );
    expect(resolveSmall({ prompt: 'p', num_frames: 65 }).params.num_frames).toBe(65);
    expect(resolveSmall({ prompt: 'p', size: '832x480' }).params.num_frames).toBe(121);
  });
});
