import { execFile } from 'node:child_process';
import path from 'node:path';

import { REPO_ROOT } from './chart.harness';

/**
 * Runs a generator of tools/helm/src in its own Node process, as CI does (prettier, which
 * the generators format with, loads ES modules that jest's runtime cannot).
 */
export function runGenerator(
  script: string,
  args: string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', '@swc-node/register', path.join(REPO_ROOT, 'tools/helm/src', script), ...args],
      { cwd: REPO_ROOT, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error
          ? typeof (error as { code?: unknown }).code === 'number'
            ? (error as { code: number }).code
            : 1
          : 0;
        resolve({ exitCode: code, stdout, stderr });
      },
    );
  });
}
