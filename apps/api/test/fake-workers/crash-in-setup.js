#!/usr/bin/env node
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run with bare `node` */
/**
 * Fails while loading the model: after FAKE_SETUP_MS (default 50) it reports MODEL_LOAD_FAILED
 * (unless FAKE_SILENT_CRASH=1) and exits with FAKE_EXIT_CODE (default 1). Never sends ready.
 */
const { emit, envNumber, log } = require('./_common');

const NAME = 'crash-in-setup';
log(NAME, 'loading model...');
setTimeout(
  () => {
    const message = 'model directory /models/fake is missing model_index.json';
    log(NAME, message);
    if (process.env.FAKE_SILENT_CRASH !== '1')
      emit({ type: 'error', job_id: null, code: 'MODEL_LOAD_FAILED', message });
    process.exit(envNumber('FAKE_EXIT_CODE', 1));
  },
  envNumber('FAKE_SETUP_MS', 50),
);
