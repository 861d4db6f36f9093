import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type ApiProcess, getJson, postJson, startApi, waitFor } from '../support/api-process';
import { ffprobe } from '../support/ffprobe';

const completedCount = (metrics: string) =>
  Number(
    /^t2v_jobs_finished_total\{model="t2v-synthetic",status="completed"\} (\d+)/m.exec(metrics)?.[1] ?? 0,
  );

/** The public API end to end: a real process on a real port, the synthetic engine, real MP4s. */
describe('API end to end (synthetic engine)', () => {
  let api: ApiProcess;
  let base: string;

  beforeAll(async () => {
    api = await startApi({ T2V_SYNTHETIC_STEP_MS: '20' });
    base = api.url;
  });
  afterAll(async () => {
    expect(await api.stop()).toBe(0);
  });

  const create = (body: unknown, headers: Record<string, string> = {}) =>
    postJson(`${base}/v1/videos`, body, headers);
  const waitDone = async (id: string) => {
    let video: any;
    await waitFor(
      async () => {
        video = (await getJson(`${base}/v1/videos/${id}`)).json;
        return ['completed', 'failed', 'cancelled'].includes(video.status);
      },
      30_000,
      `video ${id}`,
    );
    return video;
  };

  it('serves liveness and readiness', async () => {
    expect((await getJson(`${base}/healthz`)).status).toBe(200);
    const ready = await getJson(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json.details.workers.workers[0].state).toMatch(/READY|BUSY/);
    expect((await getJson(`${base}/ready`)).status).toBe(200);
  });

  it('creates a video, streams its events and serves a valid MP4 and thumbnail', async () => {
    const created = await create({
      prompt: 'a cat dancing in the rain',
      size: '256x256',
      seconds: 1,
      num_inference_steps: 6,
    });
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({
      object: 'video',
      status: expect.stringMatching(/queued|in_progress/),
      size: '256x256',
      num_frames: 25,
      model: 't2v-synthetic',
    });
    expect(created.headers.get('x-request-id')).toBeTruthy();

    const res = await fetch(`${base}/v1/videos/${created.json.id}/events`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text(); // the stream ends after the terminal event
    const events = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]);
    expect(events[events.length - 1]).toBe('video.completed');
    expect(events.filter((e) => e === 'video.progress').length).toBeGreaterThan(0);
    const last = JSON.parse([...text.matchAll(/^data: (.+)$/gm)].pop()![1]!);
    expect(last).toMatchObject({ status: 'completed', progress: 100 });
    expect(last.timings.inference_s).toBeGreaterThan(0);

    const mp4 = await fetch(`${base}/v1/videos/${created.json.id}/content`, {
      headers: { accept: 'application/binary' },
    });
    expect(mp4.status).toBe(200);
    expect(mp4.headers.get('content-type')).toBe('video/mp4');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-dl-')), 'v.mp4');
    fs.writeFileSync(file, Buffer.from(await mp4.arrayBuffer()));
    expect(ffprobe(file)).toEqual({ codec: 'h264', width: 256, height: 256, frames: 25, pixFmt: 'yuv420p' });

    const range = await fetch(`${base}/v1/videos/${created.json.id}/content`, {
      headers: { range: 'bytes=0-99' },
    });
    expect(range.status).toBe(206);
    expect((await range.arrayBuffer()).byteLength).toBe(100);
    expect(range.headers.get('content-range')).toMatch(/^bytes 0-99\/\d+$/);
    const size = Number(range.headers.get('content-range')!.split('/')[1]);
    const tail = await fetch(`${base}/v1/videos/${created.json.id}/content`, {
      headers: { range: 'bytes=-10' },
    });
    expect(tail.headers.get('content-range')).toBe(`bytes ${size - 10}-${size - 1}/${size}`);
    expect((await tail.arrayBuffer()).byteLength).toBe(10);
    const beyond = await fetch(`${base}/v1/videos/${created.json.id}/content`, {
      headers: { range: `bytes=${size}-` },
    });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(((await beyond.json()) as any).error.param).toBe('Range');

    const thumb = await fetch(`${base}/v1/videos/${created.json.id}/content?variant=thumbnail`);
    expect(thumb.headers.get('content-type')).toBe('image/jpeg');
    const bytes = Buffer.from(await thumb.arrayBuffer());
    expect(bytes.subarray(0, 2).toString('hex')).toBe('ffd8');
  });

  it('hints the next poll while a job is running and refuses content until completed', async () => {
    const created = await create({ prompt: 'slow one', num_inference_steps: 60 });
    const got = await getJson(`${base}/v1/videos/${created.json.id}`);
    expect(got.json.status).not.toBe('completed');
    expect(Number(got.headers.get('openai-poll-after-ms'))).toBeGreaterThan(0);
    const content = await getJson(`${base}/v1/videos/${created.json.id}/content`);
    expect(content.status).toBe(409);
    expect(content.json.error.code).toBe('video_not_ready');
    const cancelled = await postJson(`${base}/v1/videos/${created.json.id}/cancel`, {});
    expect(cancelled.json.status).toBe('cancelled');
    const done = await getJson(`${base}/v1/videos/${created.json.id}`);
    expect(done.headers.get('openai-poll-after-ms')).toBeNull();
  });

  it('cancels queued and running jobs, and deletes records and files', async () => {
    const running = await create({ prompt: 'long running', num_inference_steps: 100 });
    const queued = await create({ prompt: 'waiting behind it', num_inference_steps: 100 });
    await waitFor(
      async () => (await getJson(`${base}/v1/videos/${running.json.id}`)).json.status === 'in_progress',
    );
    const q = await getJson(`${base}/v1/videos/${queued.json.id}`);
    expect(q.json).toMatchObject({ status: 'queued', queue_position: 1 });
    expect((await postJson(`${base}/v1/videos/${queued.json.id}/cancel`, {})).json.status).toBe('cancelled');
    expect((await postJson(`${base}/v1/videos/${running.json.id}/cancel`, {})).json.status).toBe('cancelled');
    // The worker is free again: a new job completes.
    const next = await create({ prompt: 'after the cancels', num_inference_steps: 2 });
    expect((await waitDone(next.json.id)).status).toBe('completed');
    expect(fs.existsSync(path.join(api.dataDir, 'videos', `${running.json.id}.mp4`))).toBe(false);

    const del = await fetch(`${base}/v1/videos/${next.json.id}`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ id: next.json.id, object: 'video.deleted', deleted: true });
    expect((await getJson(`${base}/v1/videos/${next.json.id}`)).status).toBe(404);
    expect(fs.existsSync(path.join(api.dataDir, 'videos', `${next.json.id}.mp4`))).toBe(false);
    const again = await postJson(`${base}/v1/videos/${running.json.id}/cancel`, {});
    expect(again.json.status).toBe('cancelled');
  });

  it('pages through the list with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await create({ prompt: `page ${i}`, num_inference_steps: 1 })).json.id);
    const first = await getJson(`${base}/v1/videos?limit=2&order=desc`);
    expect(first.json).toMatchObject({ object: 'list', has_more: true });
    expect(first.json.data.map((v: any) => v.id)).toEqual([ids[2], ids[1]]);
    expect(first.json.last_id).toBe(ids[1]);
    const second = await getJson(`${base}/v1/videos?limit=2&order=desc&after=${first.json.last_id}`);
    expect(second.json.data[0].id).toBe(ids[0]);
  });

  it('replays an Idempotency-Key and rejects its reuse with another body', async () => {
    const key = `k-${Date.now()}`;
    const a = await create({ prompt: 'idempotent' }, { 'Idempotency-Key': key });
    const b = await create({ prompt: 'idempotent' }, { 'Idempotency-Key': key });
    expect(b.json.id).toBe(a.json.id);
    const c = await create({ prompt: 'something else' }, { 'Idempotency-Key': key });
    expect(c.status).toBe(409);
    expect(c.json.error).toMatchObject({ code: 'idempotency_conflict', param: 'Idempotency-Key' });
  });

  it('serves identical seeded requests from the cache and attaches to identical jobs in flight', async () => {
    const body = { prompt: 'cached cat', seed: 1234, num_inference_steps: 30 };
    const first = await create(body);
    const twin = await create(body);
    expect(twin.json.id).toBe(first.json.id); // attached while in flight
    await waitDone(first.json.id);
    const finishedBefore = completedCount(await (await fetch(`${base}/metrics`)).text());
    const hit = await create(body);
    expect(hit.json).toMatchObject({ status: 'completed', cached: true });
    expect(hit.json.id).not.toBe(first.json.id);
    const [x, y] = await Promise.all(
      [first.json.id, hit.json.id].map(async (id) =>
        Buffer.from(await (await fetch(`${base}/v1/videos/${id}/content`)).arrayBuffer()),
      ),
    );
    expect(x!.equals(y!)).toBe(true);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^t2v_cache_hits_total [1-9]/m);
    // A cache hit is a finished job too: submitted minus finished stays the number in flight.
    expect(completedCount(metrics)).toBe(finishedBefore + 1);
  });

  it('waits with Prefer: wait=N', async () => {
    const res = await create({ prompt: 'wait for me', num_inference_steps: 2 }, { Prefer: 'wait=20' });
    expect(res.json.status).toBe('completed');
    expect(res.headers.get('preference-applied')).toBe('wait=20');
  });

  it('answers /v1/videos/sync with the MP4 bytes', async () => {
    const res = await fetch(`${base}/v1/videos/sync`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'sync please', num_inference_steps: 2 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('x-video-id')).toMatch(/^video_/);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it('accepts multipart/form-data as the OpenAI SDK sends it', async () => {
    const form = new FormData();
    form.set('prompt', 'multipart cat');
    form.set('seconds', '2');
    form.set('size', '320x192');
    form.set('seed', '99');
    const res = await fetch(`${base}/v1/videos`, { method: 'POST', body: form });
    const json: any = await res.json();
    expect(res.status).toBe(200);
    expect(json).toMatchObject({ seconds: '2', size: '320x192', seed: 99, num_frames: 49 });
  });

  it.each([
    [{}, 'prompt', 'missing_field'],
    [{ prompt: '' }, 'prompt', 'invalid_value'],
    [{ prompt: 'x'.repeat(2001) }, 'prompt', 'invalid_value'],
    [{ prompt: 'x', size: '2000x100' }, 'size', 'unsupported_size'],
    [{ prompt: 'x', size: '16x16' }, 'size', 'unsupported_size'],
    [{ prompt: 'x', size: 'big' }, 'size', 'invalid_value'],
    [{ prompt: 'x', seconds: 99 }, 'seconds', 'invalid_value'],
    [{ prompt: 'x', seconds: 'two' }, 'seconds', 'invalid_value'],
    [{ prompt: 'x', num_inference_steps: 0 }, 'num_inference_steps', 'invalid_value'],
    [{ prompt: 'x', guidance_scale: -1 }, 'guidance_scale', 'invalid_value'],
    [{ prompt: 'x', num_frames: 2 }, 'num_frames', 'invalid_value'],
    [{ prompt: 'x', num_frames: 16.5 }, 'num_frames', 'invalid_value'],
    [{ prompt: 'x', seconds: 2, num_frames: 17 }, 'num_frames', 'conflicting_fields'],
    [{ prompt: 'x', size: '320x192', width: 256, height: 256 }, 'size', 'conflicting_fields'],
    [{ prompt: 'x', width: 256 }, 'height', 'missing_field'],
    [{ prompt: 'x', model: 'sora-2' }, 'model', 'invalid_value'],
    [{ prompt: 'x', seed: -1 }, 'seed', 'invalid_value'],
    [{ prompt: 'x', webhook_url: 'ftp://example.com' }, 'webhook_url', 'invalid_value'],
    [{ prompt: 'x', metadata: { a: 1 } }, 'metadata.a', 'invalid_value'],
    [{ prompt: 'x', colour: 'red' }, 'colour', 'unknown_field'],
  ])('rejects invalid body #%# with a 400 naming the field', async (body, param, code) => {
    const res = await create(body);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ type: 'invalid_request_error', param, code });
  });

  it('rejects malformed, oversized and mistyped bodies with 4xx, never 500', async () => {
    const bad = await fetch(`${base}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{bad',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe('invalid_json');
    const big = await create({ prompt: 'x'.repeat(2 * 1024 * 1024) });
    expect(big.status).toBe(413);
    const text = await fetch(`${base}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(text.status).toBe(415);
    // A media type no parser takes is refused before any handler, with the same envelope.
    const form = await fetch(`${base}/v1/videos`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'prompt=hi',
    });
    expect(form.status).toBe(415);
    expect(((await form.json()) as any).error).toMatchObject({
      code: 'unsupported_media_type',
      message: expect.stringContaining("'application/x-www-form-urlencoded'"),
    });
    // An empty JSON body is no body (clients send one on bodiless POSTs), not malformed JSON.
    const job = await create({ prompt: 'cancel me' });
    const empty = await fetch(`${base}/v1/videos/${job.json.id}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect([200, 409]).toContain(empty.status);
    expect((await getJson(`${base}/v1/videos/video_00000000000000000000000000`)).status).toBe(404);
    expect((await getJson(`${base}/v1/videos/..%2F..%2Fetc%2Fpasswd/content`)).status).toBe(404);
    expect((await getJson(`${base}/v1/nothing`)).json.error.code).toBe('not_found');
    expect((await getJson(`${base}/v1/videos?limit=500`)).json.error.param).toBe('limit');
    expect((await getJson(`${base}/v1/videos?order=up`)).json.error.param).toBe('order');
  });

  it('lists the model with its presets, labelled synthetic', async () => {
    const res = await getJson(`${base}/v1/models`);
    expect(res.json.data[0]).toMatchObject({ id: 't2v-synthetic', object: 'model', engine: 'synthetic' });
    expect(res.json.data[0].presets.sizes).toContain('1280x704');
  });

  it('keeps the original GET /generate contract (text, or JSON by Accept)', async () => {
    const text = await fetch(`${base}/generate?prompt=a%20dog%20running`);
    const body = await text.text();
    expect(body).toMatch(/^Video generated at \/.+\.mp4$/);
    expect(fs.existsSync(body.replace('Video generated at ', ''))).toBe(true);
    const json = await getJson(`${base}/generate?prompt=a%20dog`, { accept: 'application/json' });
    expect(json.json).toMatchObject({
      status: 'completed',
      url: expect.stringMatching(/^\/v1\/videos\/video_.+\/content$/),
    });
    expect((await getJson(`${base}/generate`)).json.error.param).toBe('prompt');
  });

  it('echoes a valid x-request-id', async () => {
    const res = await fetch(`${base}/v1/models`, { headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    // helmet's headers, on JSON answers as on the playground page.
    for (const page of [res, await fetch(`${base}/`)]) {
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(page.headers.get('strict-transport-security')).toMatch(/^max-age=/);
      expect(page.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    }
    // Headers that only matter to a rendered document are on the playground and Swagger UI only.
    for (const doc of [await fetch(`${base}/`), await fetch(`${base}/docs`)]) {
      expect(doc.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(doc.headers.get('x-dns-prefetch-control')).toBe('off');
    }
    expect(res.headers.get('cross-origin-opener-policy')).toBeNull();
    const fresh = await fetch(`${base}/v1/models`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('exports every metric of the design at /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      't2v_http_request_duration_seconds',
      't2v_jobs_submitted_total',
      't2v_jobs_finished_total',
      't2v_queue_depth',
      't2v_jobs_in_progress',
      't2v_job_queue_wait_seconds',
      't2v_job_inference_seconds',
      't2v_job_encode_seconds',
      't2v_worker_state',
      't2v_worker_restarts_total',
      't2v_model_load_seconds',
      't2v_gpu_memory_used_bytes',
      't2v_cache_hits_total',
      't2v_webhook_deliveries_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toMatch(/t2v_worker_state\{worker="cpu-0",state="(READY|BUSY)"\} 1/);
    expect(text).toMatch(/t2v_jobs_finished_total\{model="t2v-synthetic",status="completed"\} [1-9]/);
  });

  it('serves Swagger UI and the spec', async () => {
    const docs = await fetch(`${base}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger');
    const spec = await getJson(`${base}/openapi.json`);
    expect(Object.keys(spec.json.paths)).toEqual(
      expect.arrayContaining(['/v1/videos', '/v1/videos/{id}/content']),
    );
  });
});
