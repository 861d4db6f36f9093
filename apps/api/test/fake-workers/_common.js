'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * Shared plumbing for the fake workers: protocol lines out, request lines in, heartbeats, env knobs.
 * Deliberately free of dependencies (not even @t2v/contracts) so each fake runs with plain `node`.
 */
const readline = require('node:readline');

const PROTOCOL_VERSION = 3;

function envNumber(key, fallback) {
  const raw = process.env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${key} must be a number, got "${raw}"`);
  return value;
}

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function log(name, message) {
  process.stderr.write(`[fake:${name}] ${message}\n`);
}

/** The fake's model card: the synthetic engine's grid and ranges, under the fake's own id. */
function card(name) {
  const range = (min, max, dflt) => ({ min, max, default: dflt });
  return {
    id: `fake-${name}`,
    engine: 'fake',
    description: `fake worker ${name}`,
    owned_by: 't2v',
    created: 0,
    inputs: ['text', 'image'],
    size: {
      multiple: 32,
      max_side: 1280,
      max_pixels: 1280 * 704,
      presets: ['320x192', '192x320', '256x256'],
      default: '320x192',
    },
    frames: { multiple: 4, min: 5, max: 241 },
    fps: range(1, 60, 24),
    seconds: range(1, 10, 1),
    num_inference_steps: range(1, 100, 8),
    guidance_scale: range(0, 20, 5),
    flow_shift: null,
    negative_prompt: null,
    max_prompt_chars: 100000,
    loras: [],
    acceleration: { compile: 'off', cache: 'off', attention: null, parallel: 'off', weights: null },
    profile: null,
  };
}

function ready(name) {
  emit({ type: 'ready', protocol: PROTOCOL_VERSION, device: 'cpu', load_s: 0, card: card(name) });
}

function heartbeatEvent() {
  return {
    type: 'heartbeat',
    gpu_mem_bytes: null,
    gpu_mem_total_bytes: null,
    rss_bytes: process.memoryUsage.rss(),
  };
}

/** Heartbeats every FAKE_HEARTBEAT_MS (default 100). Returns a stop function. */
function startHeartbeat() {
  const timer = setInterval(() => emit(heartbeatEvent()), envNumber('FAKE_HEARTBEAT_MS', 100));
  return () => clearInterval(timer);
}

/** Calls onRequest(parsedObject) per stdin line (unparseable lines are logged), onEnd() at EOF. */
function onRequests(name, onRequest, onEnd) {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let request;
    try {
      request = JSON.parse(line);
    } catch {
      log(name, `ignoring unparseable request: ${line.slice(0, 200)}`);
      return;
    }
    onRequest(request);
  });
  lines.on('close', () => (onEnd ? onEnd() : process.exit(0)));
}

/**
 * Stuck fakes would outlive a failed test; FAKE_MAX_LIFETIME_MS (default 60 s) bounds them. The
 * timer is unref'd so it never keeps an otherwise finished process alive.
 */
function boundLifetime(name) {
  const ms = envNumber('FAKE_MAX_LIFETIME_MS', 60000);
  setTimeout(() => {
    log(name, `lifetime of ${ms} ms reached, exiting`);
    process.exit(0);
  }, ms).unref();
}

/** Keeps the event loop alive without doing anything, like a process stuck in native code. */
function stayAlive() {
  setInterval(() => undefined, 1 << 30);
}

// done.acceleration of a worker with no transformer (the built contracts: the API's tests build them first).
const { NO_TRANSFORMER } = require('@t2v/contracts');

module.exports = {
  NO_TRANSFORMER,
  PROTOCOL_VERSION,
  envNumber,
  emit,
  log,
  ready,
  heartbeatEvent,
  startHeartbeat,
  onRequests,
  boundLifetime,
  stayAlive,
};
