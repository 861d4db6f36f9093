#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * Stuck in setup: never sends ready and ignores every request and stdin EOF. With
 * FAKE_HEARTBEAT=1 it heartbeats anyway (alive but never ready). Lives until killed or until
 * FAKE_MAX_LIFETIME_MS (default 60 s).
 */
const { boundLifetime, log, onRequests, startHeartbeat, stayAlive } = require('./_common');

const NAME = 'silent-setup';
boundLifetime(NAME);
log(NAME, 'loading model (forever)...');
if (process.env.FAKE_HEARTBEAT === '1') startHeartbeat();
onRequests(
  NAME,
  (request) => log(NAME, `not ready, ignoring ${request.type}`),
  () => log(NAME, 'stdin closed, still loading'),
);
stayAlive();
