import type { ChildProcess } from 'node:child_process';

/**
 * What stops `child` (call it right after spawning, so its exit is not missed): SIGTERM, SIGKILL
 * after 10 s, then waits for the exit. A child that already exited is left as it is.
 */
export function childStopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
}
