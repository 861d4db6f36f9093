// Baseline for the HTTP benchmark: a bare node:http server doing the same JSON work as the API's
// create and retrieve (parse, validate the prompt, build a video object, keep it in memory).
// Run as a script it listens on a free loopback port and prints it: the benchmark runs it in its
// own process, like the API, so neither shares an event loop with the load generator.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';

const jobs = new Map();

/** The video object both baselines build for a create (the same shape as the API's). */
export function newVideo(body, queuePosition) {
  return {
    id: `video_${randomUUID().replace(/-/g, '').slice(0, 26)}`,
    object: 'video',
    model: 't2v-synthetic',
    status: 'queued',
    progress: 0,
    created_at: Math.floor(Date.now() / 1000),
    completed_at: null,
    expires_at: null,
    prompt: body.prompt,
    seconds: String(body.seconds ?? 1),
    size: body.size ?? '320x192',
    error: null,
    seed: 1,
    negative_prompt: null,
    num_inference_steps: 8,
    guidance_scale: 5,
    flow_shift: null,
    fps: 24,
    num_frames: 25,
    queue_position: queuePosition,
    cached: false,
    metadata: {},
    timings: { queue_s: null, load_s: null, inference_s: null, encode_s: null },
    acceleration: {
      requested: 'auto',
      cache: null,
      compile: null,
      attention: null,
      transformer_passes: null,
      planned_passes: null,
      weights: null,
    },
  };
}

export function startBareServer() {
  const server = http.createServer((req, res) => {
    const send = (status, body) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    if (req.method === 'POST' && req.url === '/v1/videos') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        let body;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return send(400, {
            error: {
              message: 'invalid json',
              type: 'invalid_request_error',
              param: null,
              code: 'invalid_json',
            },
          });
        }
        if (typeof body.prompt !== 'string' || body.prompt.trim() === '') {
          return send(400, {
            error: {
              message: 'prompt',
              type: 'invalid_request_error',
              param: 'prompt',
              code: 'missing_field',
            },
          });
        }
        const video = newVideo(body, jobs.size + 1);
        jobs.set(video.id, video);
        send(200, video);
      });
      return;
    }
    const m = /^\/v1\/videos\/([\w]+)$/.exec(req.url ?? '');
    if (req.method === 'GET' && m) {
      const video = jobs.get(m[1]);
      return video
        ? send(200, video)
        : send(404, {
            error: { message: 'not found', type: 'not_found_error', param: 'id', code: 'not_found' },
          });
    }
    send(404, { error: { message: 'not found', type: 'not_found_error', param: null, code: 'not_found' } });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startBareServer();
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
}
