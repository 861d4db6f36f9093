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
