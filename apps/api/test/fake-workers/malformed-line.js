#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * Ready and heartbeating; on generate it writes one line that breaks the protocol, chosen by
 * FAKE_MALFORMED: `not-json` (default), `unknown-type`, `bad-field` (a progress with an extra
 * field), `no-newline` (JSON left without its terminating newline). Then it keeps heartbeating
 * and never answers the job. Exits 0 on shutdown or stdin EOF.
 */
const { emit, log, onRequests, ready, startHeartbeat } = require('./_common');

const NAME = 'malformed-line';
ready(NAME);
startHeartbeat();
onRequests(NAME, (request) => {
  if (request.type === 'shutdown') process.exit(0);
  if (request.type !== 'generate') return;
  const kind = process.env.FAKE_MALFORMED ?? 'not-json';
  log(NAME, `writing a ${kind} line`);
  switch (kind) {
    case 'unknown-type':
      emit({ type: 'telemetry', job_id: request.job_id });
      break;
    case 'bad-field':
      emit({ type: 'progress', job_id: request.job_id, step: 1, total: 2, eta: 3 });
      break;
    case 'no-newline':
      process.stdout.write(JSON.stringify({ type: 'progress', job_id: request.job_id, step: 1, total: 2 }));
      break;
    default:
      process.stdout.write('Traceback (most recent call last): this is not JSON\n');
  }
});
