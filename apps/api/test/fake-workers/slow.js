#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * A well-behaved but slow worker: one job at a time, progress every FAKE_STEP_MS (default 200)
 * for num_inference_steps steps, then done. Honours cancel (CANCELLED at the next step), answers
 * a generate while busy with ENGINE_ERROR, finishes the job on shutdown, exits 0 on stdin EOF.
 * It writes no files: `done` names the requested paths only.
 */
const { NO_TRANSFORMER, emit, envNumber, log, onRequests, ready, startHeartbeat } = require('./_common');

const NAME = 'slow';
const stepMs = envNumber('FAKE_STEP_MS', 200);
/** FAKE_LOG_STEPS=1: a log line per step on stderr (and a warning and an unlevelled line at the end). */
const logSteps = process.env.FAKE_LOG_STEPS === '1';
let current = null;
let shuttingDown = false;

ready(NAME);
startHeartbeat();

function finish(job, event) {
  clearInterval(job.timer);
  current = null;
  emit(event);
  if (shuttingDown) process.exit(0);
}

function start(request) {
  const { params } = request;
  const job = {
    id: request.job_id,
    step: 0,
    total: params.num_inference_steps,
    cancelled: false,
    timer: null,
  };
  current = job;
  const started = Date.now();
  job.timer = setInterval(() => {
    if (job.cancelled) {
      return finish(job, {
        type: 'error',
        job_id: job.id,
        code: 'CANCELLED',
        message: `cancelled at step ${job.step} of ${job.total}`,
      });
    }
    job.step += 1;
    if (logSteps) {
      // As the Python worker's logging writes them: "<time> <LEVEL> <logger>: <message>".
      process.stderr.write(
        `2026-01-01 00:00:00,000 INFO t2v_worker.fake: step ${job.step} of ${job.total}\n`,
      );
      if (job.step === job.total) {
        process.stderr.write('2026-01-01 00:00:00,000 WARNING t2v_worker.fake: last step\n');
        process.stderr.write('  a continuation line without a level\n');
      }
    }
    emit({ type: 'progress', job_id: job.id, step: job.step, total: job.total });
    if (job.step < job.total) return;
    finish(job, {
      type: 'done',
      job_id: job.id,
      path: request.out_path,
      thumbnail_path: request.thumbnail_path,
      frames: params.num_frames,
      fps: params.fps,
      width: params.width,
      height: params.height,
      timings: { inference_s: (Date.now() - started) / 1000, encode_s: 0 },
      acceleration: NO_TRANSFORMER,
    });
  }, stepMs);
}

onRequests(NAME, (request) => {
  switch (request.type) {
    case 'generate':
      if (current || shuttingDown) {
        emit({ type: 'error', job_id: request.job_id, code: 'ENGINE_ERROR', message: 'worker is busy' });
      } else {
        start(request);
      }
      return;
    case 'cancel':
      if (current && current.id === request.job_id) current.cancelled = true;
      return;
    case 'shutdown':
      shuttingDown = true;
      log(NAME, 'shutdown requested');
      if (!current) process.exit(0);
      return;
  }
});
