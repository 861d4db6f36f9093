/**
 * Exit codes of `t2v`, stable for scripts. Documented in the README and `t2v --help`.
 */
export const ExitCode = {
  /** Done. */
  OK: 0,
  /** Unexpected failure (a bug, a local file error). */
  ERROR: 1,
  /** Bad command line: unknown option, missing argument, invalid number. */
  USAGE: 2,
  /** The API rejected the request (400, 409, 413, 422 …); its message is printed as is. */
  REQUEST_REJECTED: 3,
  /** Authentication failed (401/403): set T2V_API_KEY or --api-key. */
  AUTH: 4,
  /** No such video (404). */
  NOT_FOUND: 5,
  /** The server is busy or failing (429, 5xx) even after retries. */
  SERVER: 6,
  /** The server could not be reached or timed out. */
  CONNECTION: 7,
  /** The video job finished as `failed`. */
  VIDEO_FAILED: 8,
  /** The video job finished as `cancelled`. */
  VIDEO_CANCELLED: 9,
  /** Interrupted by Ctrl-C. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
