import * as path from 'node:path';

import type { GenerateRequest } from '@t2v/contracts';

import { WorkerSupervisor } from '../worker-pool/worker-supervisor';
import { createLogger, type Log, NestLogger, redactor, rootLogger, setRootLogger } from './logger';

/** A logger writing parsed lines into `lines` (and the raw text into `raw`). */
function capture(secrets: string[] = [], level: 'debug' | 'info' = 'debug') {
  const lines: Array<Record<string, any>> = [];
  const raw: string[] = [];
  const log = createLogger({
    level,
    secrets,
    destination: {
      write: (s: string) => {
        raw.push(s);
        lines.push(JSON.parse(s));
      },
    },
  });
  return { log, lines, raw: () => raw.join('') };
}

describe('the API logger (pino)', () => {
  it('writes one JSON object per line: ISO time, level name, message, bindings of children', () => {
    const { log, lines } = capture();
    log.child({ context: 'jobs' }).child({ job_id: 'video_1' }).warn({ attempt: 2 }, 'requeued video_1');
    expect(lines).toEqual([
      {
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        level: 'warn',
        context: 'jobs',
        job_id: 'video_1',
        attempt: 2,
        msg: 'requeued video_1',
      },
    ]);
  });

  it('writes errors with their type, stack and cause', () => {
    const { log, lines } = capture();
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    log.error({ err: new Error('could not record the outcome', { cause }) }, 'outcome not recorded');
    const err = lines[0]!['err'];
    expect(err).toMatchObject({ type: 'Error', message: 'could not record the outcome' });
    expect(err.stack).toMatch(/^Error: could not record the outcome\n\s+at /);
    expect(err.cause).toMatchObject({
      type: 'Error',
      message: expect.stringContaining('ECONNREFUSED'),
      code: 'ECONNREFUSED',
    });
    expect(err.cause.stack).toMatch(/\n\s+at /);
  });

  it('never writes a configured secret, a bearer token, a credential header or a URL query value', () => {
    const apiKey = 'key-aaaaaaaaaaaaaaaaaaaa';
    const webhookSecret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
    const { log, raw } = capture([apiKey, webhookSecret, webhookSecret.slice(6), 'redis-pass-123']);
    log.info(
      { headers: { authorization: 'Bearer eyJhbGciOi.eyJzdWIi.sig', 'x-api-key': 'other', accept: '*/*' } },
      'req',
    );
    log.warn(`auth failed for ${apiKey} (Authorization: Bearer ${apiKey})`);
    log.error({ err: new Error(`bad secret ${webhookSecret}`) }, 'signer');
    log.warn('redis: NOAUTH for redis://:redis-pass-123@redis:6379/0');
    log.info(
      'uploaded to https://bucket.s3.amazonaws.com/videos/v.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=abcdef0123456789',
    );
    log.warn('webhook for video_1: https://hooks.example.test/in?token=s3cr3t-t0ken answered 500');
    const text = raw();
    for (const leaked of [
      apiKey,
      webhookSecret,
      webhookSecret.slice(6),
      'redis-pass-123',
      'eyJhbGciOi',
      'other',
      'AKIA',
      'abcdef0123456789',
      's3cr3t-t0ken',
    ])
      expect(text).not.toContain(leaked);
    // What stays: header names, the URL up to its query, the parameter names.
    expect(text).toContain('"accept":"*/*"');
    expect(text).toContain(
      'https://bucket.s3.amazonaws.com/videos/v.mp4?X-Amz-Algorithm=[redacted]&X-Amz-Credential=[redacted]',
    );
    expect(text).toContain('https://hooks.example.test/in?token=[redacted] answered 500');
  });

  it('finds a secret JSON had to escape, and a bearer token in capitals', () => {
    const { log, raw } = capture(['se"cr\\et-xyz-987']);
    log.warn('redis said: bad password se"cr\\et-xyz-987');
    log.warn('AUTHORIZATION: BEARER abcdef.ghijkl.mnopqr');
    expect(raw()).not.toContain('xyz-987');
    expect(raw()).toContain('bad password [redacted]');
    expect(raw()).not.toContain('abcdef');
  });

  it('leaves a line without credentials as it was (the access-log path)', () => {
    const redact = redactor(['key-aaaaaaaaaaaaaaaaaaaa']);
    const line =
      '{"level":"info","request_id":"r1","method":"GET","path":"/v1/videos/x","status":200,"ms":1,"msg":"request"}\n';
    expect(redact(line)).toBe(line);
  });

  it('takes Nest messages with their context, and errors with their stack', () => {
    const { log, lines } = capture();
    const nest = new NestLogger(log);
    nest.log('Mapped {/v1/videos, POST} route', 'RouterExplorer');
    nest.error('boom', 'Error: boom\n    at x (y.js:1:1)', 'ExceptionHandler');
    nest.warn({ msg: 'as an object', detail: 1 }, 'Ctx');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        context: 'RouterExplorer',
        msg: 'Mapped {/v1/videos, POST} route',
      }),
      expect.objectContaining({
        level: 'error',
        context: 'ExceptionHandler',
        msg: 'boom',
        stack: expect.stringContaining('at x'),
      }),
      expect.objectContaining({ level: 'warn', context: 'Ctx', msg: 'as an object', detail: 1 }),
    ]);
  });
});

describe('worker output in the API log', () => {
  let previous: Log;
  afterEach(() => setRootLogger(previous));

  it('relays the worker’s stderr at its level, each line carrying the running job’s id', async () => {
    previous = rootLogger();
    const { log, lines } = capture();
    setRootLogger(log);
    const worker = new WorkerSupervisor({
      id: 'w0',
      device: 'cpu',
      command: [process.execPath, path.resolve(__dirname, '../../test/fake-workers/slow.js')],
      env: {
        PATH: process.env['PATH'] ?? '',
        FAKE_HEARTBEAT_MS: '50',
        FAKE_STEP_MS: '10',
        FAKE_LOG_STEPS: '1',
      },
      startupTimeoutMs: 5000,
      heartbeatTimeoutMs: 2000,
    });
    worker.start();
    try {
      await new Promise<void>((resolve) => worker.on('state', (s) => s === 'READY' && resolve()));
      const request = {
        type: 'generate',
        job_id: 'video_log_1',
        params: { num_inference_steps: 3, num_frames: 5, fps: 8, width: 64, height: 64 },
        out_path: '/tmp/none.mp4',
        thumbnail_path: '/tmp/none.jpg',
      } as unknown as GenerateRequest;
      expect((await worker.runJob(request, () => undefined)).kind).toBe('done');
      await new Promise((r) => setTimeout(r, 100)); // stderr may trail stdout
      const relayed = lines.filter(
        (l) => l['stream'] === 'stderr' && String(l['msg']).includes('t2v_worker.fake'),
      );
      expect(relayed.map((l) => [l['level'], l['job_id'], l['worker']])).toEqual([
        ['info', 'video_log_1', 'w0'],
        ['info', 'video_log_1', 'w0'],
        ['info', 'video_log_1', 'w0'],
        ['warn', 'video_log_1', 'w0'],
      ]);
      const continuation = lines.find((l) => String(l['msg']).includes('continuation line'));
      expect(continuation).toMatchObject({ level: 'warn', job_id: 'video_log_1', stream: 'stderr' });
    } finally {
      await worker.stop(1000);
    }
  });
});
