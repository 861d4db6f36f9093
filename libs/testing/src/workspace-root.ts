import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The workspace root: the nearest folder at or above the current directory that holds nx.json.
 * Found from the working directory, not from this file, so the same code runs as CommonJS (the
 * API's and the engine's jest) and as ES modules (the SDK's and the CLI's jest).
 */
export function findWorkspaceRoot(from: string = process.cwd()): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    if (dirname(dir) === dir)
      throw new Error(`no nx.json at or above ${from}: run the tests from the workspace`);
  }
}

export const WORKSPACE_ROOT = findWorkspaceRoot();
