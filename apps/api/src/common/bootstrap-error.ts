/** Prints a configuration or startup error as one readable block and exits non-zero. */
export function bootstrapError(message: string): never {
  process.stderr.write(`t2v: ${message}\n`);
  process.exit(78);
}
