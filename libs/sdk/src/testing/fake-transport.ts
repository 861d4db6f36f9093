import { Readable } from 'node:stream';

import type { Transport, TransportRequest, TransportResponse } from '../core/transport.js';

/** A scripted answer: JSON `json`, raw `body` (chunks allowed), or a thrown `error`. */
export interface FakeAnswer {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string | Buffer | Array<string | Buffer> | Readable;
  error?: unknown;
}

/** Answers requests in order from `script` (a function may inspect the request). */
export type FakeStep = FakeAnswer | ((request: TransportRequest) => FakeAnswer | Promise<FakeAnswer>);

/** A transport that replays `script` and records every request; the last step repeats. */
export function fakeTransport(script: FakeStep[]): {
  transport: Transport;
  requests: TransportRequest[];
  times: number[];
} {
  const requests: TransportRequest[] = [];
  const times: number[] = [];
  let index = 0;
  const transport: Transport = async (request) => {
    requests.push(request);
    times.push(Date.now());
    const step = script[Math.min(index++, script.length - 1)];
    if (step === undefined) throw new Error('empty fake script');
    const answer = typeof step === 'function' ? await step(request) : step;
    if (answer.error !== undefined) throw answer.error;
    return toResponse(answer);
  };
  return { transport, requests, times };
}

/** Builds a transport response from a scripted answer. */
export function toResponse(answer: FakeAnswer): TransportResponse {
  const headers: Record<string, string> = { 'x-request-id': 'req_test', ...answer.headers };
  if (answer.body instanceof Readable) return { status: answer.status ?? 200, headers, body: answer.body };
  let chunks: Array<string | Buffer>;
  if (answer.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    chunks = [JSON.stringify(answer.json)];
  } else if (answer.body === undefined) chunks = [];
  else chunks = Array.isArray(answer.body) ? answer.body : [answer.body];
  return {
    status: answer.status ?? 200,
    headers,
    body: Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))),
  };
}

/** The API's error envelope. */
export function errorEnvelope(message: string, type: string, code: string, param: string | null = null) {
  return { error: { message, type, param, code } };
}

/** A plausible video object. */
export function videoFixture(overrides: Partial<Record<string, unknown>> = {}) {
  return {
    id: 'video_1',
    object: 'video',
    model: 'synthetic',
    status: 'queued',
    progress: 0,
    created_at: 1_700_000_000,
    completed_at: null,
    expires_at: null,
    prompt: 'a fox',
    seconds: '1',
    size: '256x256',
    error: null,
    seed: 1,
    negative_prompt: null,
    num_inference_steps: 4,
    guidance_scale: 5,
    fps: 8,
    num_frames: 9,
    queue_position: 0,
    cached: false,
    metadata: null,
    user: null,
    adjusted: {},
    input_reference: null,
    lora: [],
    timings: null,
    ...overrides,
  };
}
