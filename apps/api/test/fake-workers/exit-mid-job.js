#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * Ready and heartbeating; on generate it emits progress step 1, waits FAKE_STEP_MS (default 50)
 * and dies like an OOM-killed process: FAKE_EXIT_MODE=kill (default) sends itself SIGKILL (a shell
 * reports 137), FAKE_EXIT_MODE=exit calls process.exit(FAKE_EXIT_CODE, default 1). With
 * FAKE_EXIT_MESSAGE it first says why, as a worker whose CUDA context broke does: an error event
 * outside any job (job_id null).
 */
const { emit, envNumber, log, onRequests, ready, startHeartbeat } = require('./_common');

const NAME = 'exit-mid-job';
ready(NAME);
startHeartbeat();
onRequests(NAME, (request) => {
  if (request.type === 'shutdown') process.exit(0);
  if (request.type !== 'generate') return;
  const total = request.params?.num_inference_steps ?? 4;
  emit({ type: 'progress', job_id: request.job_id, step: 1, total: Math.max(1, total) });
  setTimeout(
    () => {
      log(NAME, 'dying mid-job');
      if (process.env.FAKE_EXIT_MESSAGE) {
        emit({ type: 'error', job_id: null, code: 'ENGINE_ERROR', message: process.env.FAKE_EXIT_MESSAGE });
      }
      if ((process.env.FAKE_EXIT_MODE ?? 'kill') === 'kill') process.kill(process.pid, 'SIGKILL');
      else process.exit(envNumber('FAKE_EXIT_CODE', 1));
    },
    envNumber('FAKE_STEP_MS', 50),
  );
});
