'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * Shared plumbing for the fake workers: protocol lines out, request lines in, heartbeats, env knobs.
 * Deliberately free of dependencies (not even @t2v/contracts) so each fake runs with plain `node`.
 */
const readline = require('node:readline');

const PROTOCOL_VERSION = 1;

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

function ready(name) {
  emit({
    type: 'ready',
    protocol: PROTOCOL_VERSION,
    model: `fake-${name}`,
    engine: 'fake',
    device: 'cpu',
    load_s: 0,
    loras: [],
  });
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

module.exports = {
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
