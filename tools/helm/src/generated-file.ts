import { writeFileSync } from 'node:fs';

/**
 * Writes a generated file when it changed, or with `check` reports that it is out of date.
 * Returns the exit code: 1 only for a stale file under `check`.
 */
export function writeOrCheck(path: string, current: string, next: string, check: boolean): number {
  if (next === current) return 0;
  if (check) {
    process.stderr.write(`${path} is out of date: run npx nx run helm-tools:generate\n`);
    return 1;
  }
  writeFileSync(path, next);
  process.stdout.write(`updated ${path}\n`);
  return 0;
}

/** Runs a generator's main and turns its result or error into the process exit code. */
export function runMain(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
