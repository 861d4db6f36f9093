import { APIConnectionError, APIError, type Video } from '@t2v/sdk';

import { describeError, elapsedSeconds, formatSeconds, modelLine, progressDetail } from './format';

const video = (patch: Partial<Video>): Video =>
  ({
    id: 'video_1',
    num_inference_steps: 20,
    progress: 0,
    queue_position: null,
    created_at: 1000,
    completed_at: null,
    ...patch,
  }) as Video;

describe('format', () => {
  it('names the loaded model and engine, and says what a test engine renders', () => {
    expect(modelLine({ id: 't2v-synthetic', engine: 'synthetic' })).toBe(
      't2v-synthetic · synthetic (test pattern, not a real model)',
    );
    expect(modelLine({ id: 'wan-tiny-random', engine: 'wan-tiny' })).toBe(
      'wan-tiny-random · wan-tiny (real Wan pipeline with tiny random weights: expect noise, not pictures)',
    );
    expect(modelLine({ id: 'Wan2.2-TI2V-5B-Diffusers', engine: 'wan' })).toBe(
      'Wan2.2-TI2V-5B-Diffusers · wan',
    );
  });

  it('says where a job stands', () => {
    expect(progressDetail(video({ status: 'queued', queue_position: 3 }))).toBe('position 3 in the queue');
    expect(progressDetail(video({ status: 'queued', queue_position: 1, queue_reason: 'gpu_capacity' }))).toBe(
      'position 1 in the queue · waiting for a GPU to start',
    );
    expect(progressDetail(video({ status: 'in_progress', progress: 50 }))).toBe('step 10 of 20 · 50%');
    expect(
      progressDetail(video({ status: 'failed', error: { code: 'GPU_OOM', message: 'out of memory' } })),
    ).toBe('GPU_OOM');
    const done = { status: 'completed', size: '320x192', seconds: '1', fps: 24, timings: null } as const;
    expect(progressDetail(video({ ...done, input_reference: null }))).toBe('320x192 · 1 s · 24 fps');
    expect(
      progressDetail(
        video({ ...done, cached: true, input_reference: { sha256: 'ab', width: 320, height: 192 } }),
      ),
    ).toBe('320x192 · 1 s · 24 fps · from an image · from cache');
  });

  it('times a job from its creation to now, or to its end', () => {
    expect(elapsedSeconds(video({ status: 'in_progress' }), 1_002_500)).toBe(2.5);
    expect(elapsedSeconds(video({ status: 'completed', completed_at: 1004 }), 9_999_999)).toBe(4);
    expect(formatSeconds(2.54)).toBe('2.5 s');
    expect(formatSeconds(125)).toBe('2 min 05 s');
  });

  it("shows the API's message with the field, when to retry, and the request id", () => {
    const bad = APIError.generate(
      400,
      {
        error: {
          message: "Invalid 'seed'.",
          type: 'invalid_request_error',
          param: 'seed',
          code: 'invalid_value',
        },
      },
      { 'x-request-id': 'req-1' },
    );
    expect(describeError(bad)).toEqual({
      message: "Invalid 'seed'. (request req-1)",
      param: 'seed',
      needsKey: false,
    });
    const busy = APIError.generate(
      429,
      { error: { message: 'Too many jobs.', type: 'rate_limit_error', param: null, code: 'rate_limited' } },
      { 'retry-after': '7' },
    );
    expect(describeError(busy).message).toBe('Too many jobs. Try again in 7 s.');
    const key = APIError.generate(
      401,
      {
        error: {
          message: 'Missing API key.',
          type: 'authentication_error',
          param: null,
          code: 'invalid_api_key',
        },
      },
      {},
    );
    expect(describeError(key).needsKey).toBe(true);
    expect(describeError(new APIConnectionError('Connection error: refused')).message).toMatch(
      /^Cannot reach the server/,
    );
  });
});
