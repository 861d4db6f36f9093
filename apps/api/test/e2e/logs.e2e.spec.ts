import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import { FAKE_WORKERS, getJson, postJson, startApi, waitFor } from '../support/api-process';

const API_KEY = 'key-for-the-log-test-0123456789';
const SECRET = `whsec_${Buffer.from('t2v-webhook-log-secret-32-bytes!').toString('base64')}`;

/**
 * The built API's own log, as an operator reads it: one JSON object per line, the request id a
 * client sent on its access line, every line of a job's life (its worker's output included)
 * carrying `job_id`, and no credential anywhere, whatever the client sent.
 */
describe('the API log', () => {
  it('carries request ids and job ids, and never a credential', async () => {
    let hookUrl = '';
    const receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(500).end()); // a failing receiver: its URL gets logged
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook?token=receiver-token-42`;
    const api = await startApi({
      T2V_API_KEYS: API_KEY,
      T2V_WEBHOOK_SECRET: SECRET,
      T2V_WEBHOOK_ALLOW_PRIVATE: 'true',
      LOG_LEVEL: 'debug',
    });
    const auth = { authorization: `Bearer ${API_KEY}` };
    try {
      const created = await postJson(
        `${api.url}/v1/videos`,
        { prompt: 'a log line per step', seconds: 1, webhook_url: hookUrl },
        { ...auth, 'x-request-id': 'client-req-7', Prefer: 'wait=20' },
      );
      expect(created.json.status).toBe('completed');
      const id = created.json.id as string;
      // A refused token and a wrong key: their values must not be logged either.
      expect(
        (await getJson(`${api.url}/v1/videos`, { authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig' }))
          .status,
      ).toBe(401);
      expect(
        (await getJson(`${api.url}/v1/videos`, { authorization: 'Bearer not-a-key-987654321' })).status,
      ).toBe(401);
      await waitFor(
        () => api.logs.some((l) => l.includes(`webhook for ${id}`)),
        10_000,
        'a webhook attempt logged',
      );

      const lines = api.logs.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      expect(lines.length).toBeGreaterThan(10);
      for (const l of lines) expect(l).toMatchObject({ time: expect.any(String), level: expect.any(String) });

      const access = lines.find((l) => l.msg === 'request' && l.request_id === 'client-req-7');
      expect(access).toMatchObject({ method: 'POST', path: '/v1/videos', status: 200 });

      const story = lines.filter((l) => l.job_id === id).map((l) => l.msg as string);
      expect(story).toEqual(
        expect.arrayContaining([
          'accepted',
          expect.stringMatching(/^running on worker cpu-0 \(attempt 1\)$/),
          'started',
          'completed',
          expect.stringMatching(/^webhook for .* answered 500/),
        ]),
      );

      const text = api.logs.join('\n');
      for (const secret of [API_KEY, SECRET, SECRET.slice(6), 'eyJhbGciOiJIUzI1NiJ9', 'receiver-token-42'])
        expect(text).not.toContain(secret);
      expect(text).toContain('/hook?token=[redacted]');
    } finally {
      await api.stop();
      receiver.close();
    }
  });

  it("relays what the worker writes, at the worker's level, on the job's lines", async () => {
    const api = await startApi({
      T2V_WORKER_COMMAND: JSON.stringify([process.execPath, path.join(FAKE_WORKERS, 'slow.js')]),
      FAKE_STEP_MS: '10',
      FAKE_LOG_STEPS: '1',
    });
    try {
      const created = await postJson(`${api.url}/v1/videos`, { prompt: 'p', num_inference_steps: 3 });
      const id = created.json.id as string;
      await waitFor(
        async () =>
          (await getJson(`${api.url}/v1/videos/${id}`)).json.status !== 'queued' &&
          api.logs.some((l) => l.includes('last step')),
        20_000,
        'the job to run',
      );
      const relayed = api.logs
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .filter((l) => l.stream === 'stderr' && String(l.msg).includes('t2v_worker.fake'));
      expect(relayed.map((l) => [l.job_id, l.level])).toEqual([
        [id, 'info'],
        [id, 'info'],
        [id, 'info'],
        [id, 'warn'],
      ]);
    } finally {
      await api.stop();
    }
  });
});
