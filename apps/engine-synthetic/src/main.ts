/**
 * Entry point of the `synthetic` engine: a standalone worker process speaking the JSON-lines
 * worker protocol on stdio (requests on stdin, events on stdout, logs on stderr). It renders a
 * deterministic test pattern to a real MP4, so the API can be run and load-tested without Python.
 * It must not import NestJS or anything from the API outside this folder.
 */
import { createInterface } from 'node:readline';

import { encodeMessage } from '@t2v/contracts';

import { ConfigError, loadConfig } from './synthetic.config';
import { SyntheticWorker } from './synthetic-worker';

function main(): void {
  const log = (message: string): void => {
    process.stderr.write(`[synthetic] ${message}\n`);
  };
  // A vanished reader must not crash the worker with EPIPE; stdin EOF ends it cleanly instead.
  process.stdout.on('error', (err) => log(`stdout: ${err.message}`));

  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stdout.write(
      encodeMessage({ type: 'error', job_id: null, code: 'MODEL_LOAD_FAILED', message: err.message }),
    );
    process.exitCode = 1;
    return;
  }

  const worker = new SyntheticWorker(config, {
    emit: (event) => process.stdout.write(encodeMessage(event)),
    log,
    exit: (code) => {
      // Pipes are synchronous on Linux, but wait for the last write anyway before leaving.
      process.stdout.write('', () => process.exit(code));
    },
  });
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => worker.handleLine(line));
  lines.on('close', () => worker.handleEndOfInput());
  worker.start(performance.now() / 1000);
  log(`ready (ffmpeg: ${config.ffmpegPath}, step ${config.stepMs} ms)`);
}

main();
