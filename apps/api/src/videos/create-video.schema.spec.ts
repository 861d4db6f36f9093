import { modelFor } from '../models/model-presets';
import { createVideoSchema, resolveCreate, zodToApiError } from './create-video.schema';

const wan = modelFor({ engine: 'wan', maxPromptLength: 100 });
const schema = createVideoSchema(wan);
const resolve = (body: Record<string, unknown>) => {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(schema.shape), body);
  return resolveCreate(parsed.data, wan, () => 7);
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
    });
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

  it('accepts vLLM-Omni style width/height/num_frames', () => {
    const r = resolve({ prompt: 'p', width: 832, height: 480, num_frames: 81, flow_shift: 5 });
    expect(r.params).toMatchObject({ width: 832, height: 480, num_frames: 81, flow_shift: 5 });
    expect(r.seconds).toBe('3.33');
  });

  it('lists the supported sizes when the size is not a preset', () => {
    expect(() => resolve({ prompt: 'p', size: '1920x1080' })).toThrow(
      'Supported sizes: 1280x704, 704x1280, 832x480, 480x832',
    );
  });

  it('refuses more frames than the model makes', () => {
    expect(() => resolve({ prompt: 'p', seconds: 5, fps: 30 })).toThrow(
      /exceeds the model's maximum of 121 frames/,
    );
  });

  it('bounds the prompt length by configuration', () => {
    expect(() => resolve({ prompt: 'x'.repeat(101) })).toThrow(/at most 100 characters/);
  });

  it('marks an explicit seed (cacheable)', () => {
    expect(resolve({ prompt: 'p', seed: 0 })).toMatchObject({ seedExplicit: true, params: { seed: 0 } });
  });
});

describe('create request resolution with a distilled-checkpoint profile', () => {
  const fast = modelFor({
    engine: 'wan',
    maxPromptLength: 100,
    cache: 'first-block:0.05',
    compile: 'blocks',
    modelProfile: {
      path: '/models/fastwan/t2v-profile.json',
      profile: {
        id: 'FastWan2.2-TI2V-5B',
        num_inference_steps: { min: 1, max: 8, default: 3 },
        guidance_scale: { min: 0, max: 1, default: 1 },
        flow_shift: 8,
      },
    },
  });
  const fastSchema = createVideoSchema(fast);
  const resolveFast = (body: Record<string, unknown>) => {
    const parsed = fastSchema.safeParse(body);
    if (!parsed.success) throw zodToApiError(parsed.error, Object.keys(fastSchema.shape), body);
    return resolveCreate(parsed.data, fast, () => 7);
  };

  it('serves the profile in the model presets', () => {
    expect(fast).toMatchObject({
      id: 'FastWan2.2-TI2V-5B',
      profile: '/models/fastwan/t2v-profile.json',
      acceleration: { compile: 'blocks', cache: 'first-block:0.05', attention: null },
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
  const small = modelFor({ engine: 'wan', maxPromptLength: 100, maxPixelFrames: budget });
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
