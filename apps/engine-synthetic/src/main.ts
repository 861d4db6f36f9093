/**
 * Entry point of the `synthetic` engine: a standalone worker process speaking the JSON-lines
 * worker protocol on stdio (requests on stdin, events on stdout, logs on stderr). It renders a
 * deterministic test pattern to a real MP4, so the API can be run and load-tested without Python.
 * It must not import NestJS or anything from the API outside this folder. `--card` prints its
 * model card and exits.
 */
import { createInterface } from 'node:readline';

import { encodeMessage, WORKER_EXIT_PERMANENT } from '@t2v/contracts';

import { syntheticCard } from './synthetic-card';
import { ConfigError, loadConfig, loraNames } from './synthetic.config';
import { SyntheticWorker } from './synthetic-worker';

/** `--card`: the model card as one JSON line, without starting the worker (nor needing ffmpeg). */
function printCard(): void {
  try {
    process.stdout.write(JSON.stringify(syntheticCard({ loras: loraNames(process.env) })) + '\n');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = WORKER_EXIT_PERMANENT;
  }
}

function main(): void {
  if (process.argv.slice(2).join(' ') === '--card') return printCard();
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
    // A bad setting: no restart heals it (docs/adr/0014).
    process.exitCode = WORKER_EXIT_PERMANENT;
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
