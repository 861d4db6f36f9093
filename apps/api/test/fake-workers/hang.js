#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * Ready, sends FAKE_HEARTBEATS (default 1) heartbeats FAKE_HEARTBEAT_MS apart, then goes silent:
 * no more heartbeats, no answer to any request, not even shutdown or stdin EOF. With
 * FAKE_IGNORE_SIGTERM=1 it also ignores SIGTERM, so only SIGKILL ends it.
 */
const {
  boundLifetime,
  emit,
  envNumber,
  heartbeatEvent,
  log,
  onRequests,
  ready,
  stayAlive,
} = require('./_common');

const NAME = 'hang';
if (process.env.FAKE_IGNORE_SIGTERM === '1') process.on('SIGTERM', () => log(NAME, 'ignoring SIGTERM'));
boundLifetime(NAME);
ready(NAME);
let left = envNumber('FAKE_HEARTBEATS', 1);
const timer = setInterval(
  () => {
    if (left-- <= 0) {
      clearInterval(timer);
      log(NAME, 'hanging');
      return;
    }
    emit(heartbeatEvent());
  },
  envNumber('FAKE_HEARTBEAT_MS', 100),
);
onRequests(
  NAME,
  (request) => log(NAME, `not answering ${request.type}`),
  () => log(NAME, 'stdin closed, still hanging'),
);
stayAlive();
