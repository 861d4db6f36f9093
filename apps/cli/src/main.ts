#!/usr/bin/env node
import { run } from './program.js';

// A reader that went away (`t2v --help | head`, `t2v list | grep -m1 …`) is not an error: stop
// quietly, as Unix tools do, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// First Ctrl-C: stop waiting and cancel what we started. Second: leave at once.
const controller = new AbortController();
process.once('SIGINT', () => {
  controller.abort();
  // Every later Ctrl-C (however many arrive) exits at once with the interrupted code.
  process.on('SIGINT', () => process.exit(130));
});

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
