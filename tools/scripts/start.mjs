// `npm start`: install what is missing, build, serve (synthetic engine, embedded queue by default).
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { ensureNodeModules, log, ROOT, run } from './prereqs.mjs';

ensureNodeModules();
log('building the API and the playground page…');
run(
  process.execPath,
  [
    path.join(ROOT, 'node_modules/nx/dist/bin/nx.js'),
    'run-many',
    '-t',
    'build',
    '-p',
    'api',
    'web',
    '--output-style=stream',
  ],
  {
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
  },
);
const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/api/main.js')], {
  cwd: ROOT,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
