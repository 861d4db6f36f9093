import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import OpenAI from 'openai';

import { getJson, postJson, startApi, waitFor } from '../support/api-process';
import { ffprobe } from '../support/ffprobe';

/**
 * The real model path in CI: the API supervising the Python worker that runs diffusers'
 * WanPipeline with tiny random-initialised components on CPU. The output is noise, but every
 * stage (text encoder, transformer denoising with CFG, VAE decode, H.264 encode) really runs.
 */
describe('API with T2V_ENGINE=wan-tiny (Python worker, diffusers WanPipeline)', () => {
  it('generates a video end to end over HTTP', async () => {
    const api = await startApi(
      {
        T2V_ENGINE: 'wan-tiny',
        T2V_WORKER_STARTUP_TIMEOUT_S: '300',
        T2V_HEARTBEAT_TIMEOUT_S: '120',
        T2V_MODEL_ALIASES: 'sora-2',
      },
      { timeoutMs: 300_000 },
    );
    try {
      const ready = await getJson(`${api.url}/readyz`);
      expect(ready.json.details.workers.workers[0].state).toBe('READY');
      const models = await getJson(`${api.url}/v1/models`);
      expect(models.json.data[0]).toMatchObject({ id: 'wan-tiny-random', engine: 'wan-tiny' });

      const res = await postJson(
        `${api.url}/v1/videos`,
        { prompt: 'a cat dancing in the rain', size: '256x128', seconds: 2, num_inference_steps: 3, seed: 7 },
        { Prefer: 'wait=240' },
      );
      expect(res.json).toMatchObject({
        status: 'completed',
        model: 'wan-tiny-random',
        num_frames: 17,
        size: '256x128',
      });
      expect(res.json.timings.inference_s).toBeGreaterThan(0);
      expect(res.json.timings.load_s).toBeGreaterThan(0);

      const mp4 = Buffer.from(
        await (await fetch(`${api.url}/v1/videos/${res.json.id}/content`)).arrayBuffer(),
      );
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-wan-')), 'v.mp4');
      fs.writeFileSync(file, mp4);
      expect(ffprobe(file)).toEqual({
        codec: 'h264',
        width: 256,
        height: 128,
        frames: 17,
        pixFmt: 'yuv420p',
      });

      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      expect(metrics).toMatch(/t2v_model_load_seconds\{worker="cpu-0"\} [0-9.]+/);
      expect(metrics).toMatch(/t2v_job_inference_seconds_count 1/);

      // The official openai client, an alias and an off-grid size: the worker makes the snapped
      // size (the OpenAI sizes themselves exceed this tiny model's 512-pixel limit: a 400 naming it).
      const openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'not-checked', maxRetries: 0 });
      const tooBig = await openai.videos
        .create({ model: 'sora-2', prompt: 'a cat', size: '1280x720' })
        .catch((e: unknown) => e);
      expect(tooBig).toMatchObject({ status: 400, param: 'size', code: 'unsupported_size' });
      const strict = await openai.videos
        .create(
          { model: 'sora-2', prompt: 'a cat', size: '260x130' as OpenAI.Videos.VideoSize },
          {
            headers: { Prefer: 'handling=strict' },
          },
        )
        .catch((e: unknown) => e);
      expect(strict).toMatchObject({ status: 400, param: 'size' });
      const created = await openai.videos.create({
        model: 'sora-2',
        prompt: 'a cat dancing in the rain',
        size: '260x130' as OpenAI.Videos.VideoSize,
      });
      expect(created).toMatchObject({
        size: '256x128',
        adjusted: { size: { requested: '260x130', used: '256x128' } },
      });
      let snapped: any;
      await waitFor(
        async () => {
          snapped = await openai.videos.retrieve(created.id);
          return ['completed', 'failed'].includes(snapped.status);
        },
        240_000,
        'the snapped wan-tiny job',
      );
      expect(snapped).toMatchObject({
        status: 'completed',
        model: 'wan-tiny-random',
        size: '256x128',
        num_frames: 17,
      });
      const snappedFile = path.join(path.dirname(file), 'snapped.mp4');
      fs.writeFileSync(
        snappedFile,
        Buffer.from(await (await openai.videos.downloadContent(created.id)).arrayBuffer()),
      );
      expect(ffprobe(snappedFile)).toMatchObject({ width: 256, height: 128, frames: 17 });
    } finally {
      expect(await api.stop()).toBe(0);
    }
  }, 360_000);

  it('serves a distilled profile with the step cache: presets, validation, passes, opt-out', async () => {
    const profile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-profile-')), 't2v-profile.json');
    fs.writeFileSync(
      profile,
      JSON.stringify({
        id: 'wan-tiny-distilled',
        num_inference_steps: { min: 1, max: 6, default: 3 },
        guidance_scale: { min: 0, max: 1, default: 1 },
      }),
    );
    const api = await startApi(
      {
        T2V_ENGINE: 'wan-tiny',
        T2V_MODEL_PROFILE: profile,
        T2V_CACHE: 'first-block:0.5',
        T2V_WORKER_STARTUP_TIMEOUT_S: '300',
        T2V_HEARTBEAT_TIMEOUT_S: '120',
      },
      { timeoutMs: 300_000 },
    );
    try {
      const models = await getJson(`${api.url}/v1/models`);
      expect(models.json.data[0]).toMatchObject({
        id: 'wan-tiny-distilled',
        profile,
        acceleration: { cache: 'first-block:0.5', compile: 'off' },
        presets: {
          num_inference_steps: { min: 1, max: 6, default: 3 },
          guidance_scale: { min: 0, max: 1, default: 1 },
        },
      });
      const refused = await postJson(`${api.url}/v1/videos`, { prompt: 'a cat', guidance_scale: 5 });
      expect(refused.status).toBe(400);
      expect(refused.json.error).toMatchObject({ param: 'guidance_scale', code: 'invalid_value' });

      // guidance 1 (the profile's default): one transformer pass per step at most.
      const body = { prompt: 'a dog running on the beach', size: '128x128', seconds: 1, seed: 3 };
      const cached = await postJson(`${api.url}/v1/videos`, body, { Prefer: 'wait=240' });
      expect(cached.json).toMatchObject({
        status: 'completed',
        model: 'wan-tiny-distilled',
        num_inference_steps: 3,
      });
      expect(cached.json.acceleration).toMatchObject({
        requested: 'auto',
        cache: 'first-block:0.5',
        compile: 'off',
        attention: 'native',
        planned_passes: 3,
        weights: 'bf16',
      });
      expect(cached.json.acceleration.transformer_passes).toBeGreaterThanOrEqual(1);
      expect(cached.json.acceleration.transformer_passes).toBeLessThanOrEqual(3);

      const full = await postJson(
        `${api.url}/v1/videos`,
        { ...body, num_inference_steps: 6, acceleration: 'none' },
        { Prefer: 'wait=240' },
      );
      expect(full.json).toMatchObject({ status: 'completed', num_inference_steps: 6 });
      expect(full.json.acceleration).toMatchObject({
        requested: 'none',
        cache: 'off',
        transformer_passes: 6,
        planned_passes: 6,
      });
    } finally {
      expect(await api.stop()).toBe(0);
    }
  }, 360_000);
});
