/** A helm command that exited non-zero (or could not start). Carries what helm said. */
export class HelmError extends Error {
  override readonly name = 'HelmError';

  constructor(
    message: string,
    /** helm's exit code; null when the process could not start or was killed. */
    readonly exitCode: number | null,
    /** everything helm wrote to stderr (the reason is usually its last line). */
    readonly stderr: string,
    readonly stdout: string,
    /** the argument array helm was started with (never a shell string). */
    readonly args: readonly string[],
    /** signal that ended the process, e.g. SIGTERM after a timeout. */
    readonly signal: NodeJS.Signals | null = null,
  ) {
    super(message);
  }
}

/** Options that cannot be turned into a safe argument list (e.g. a release name helm would reject). */
export class HelmUsageError extends Error {
  override readonly name = 'HelmUsageError';
}
