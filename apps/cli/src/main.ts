#!/usr/bin/env node
import { run } from './program.js';

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
