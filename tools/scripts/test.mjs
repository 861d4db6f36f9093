// `npm test`: the whole suite on a fresh clone. Installs what the tests need (npm packages, system
// tools when root, the Python venv and helm through their Nx setup targets), then builds, lints,
// checks generated files for drift, and runs every project's tests.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ensureNodeModules, ensureSystemTools, fail, log, ROOT, run } from './prereqs.mjs';

ensureNodeModules();
ensureSystemTools([
  ['ffmpeg', 'ffmpeg'],
  ['ffprobe', 'ffmpeg'],
  ['ab', 'apache2-utils'],
  ['promtool', 'prometheus'],
  ['pgrep', 'procps'],
  ['redis-server', 'redis-server'],
  ['chromium', 'chromium'],
  // the images: podman with runc, its pause image's init, and mmdebstrap for the Debian base
  ['podman', 'podman'],
  ['runc', 'runc'],
  ['/usr/libexec/podman/catatonit', 'catatonit'],
  ['mmdebstrap', 'mmdebstrap'],
]);
ensureSystemTools([['go', 'golang-go']]);

// SeaweedFS, the S3 server of the object-storage tests, builds from its Go module (minutes when
// cold, nothing once built: install-seaweedfs.sh is keyed by its pin). Its download and build run
// beside the TypeScript build and checks below; the tests wait for it.
fs.mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
const seaweedLog = path.join(ROOT, 'tmp/install-seaweedfs.log');
const seaweedOut = fs.openSync(seaweedLog, 'w');
const seaweed = spawn('bash', [path.join(ROOT, 'tools/seaweedfs/install-seaweedfs.sh')], {
  stdio: ['ignore', seaweedOut, seaweedOut],
});
const seaweedDone = new Promise((resolve) => seaweed.once('exit', (code) => resolve(code)));

const nx = (...args) =>
  run(
    process.execPath,
    [path.join(ROOT, 'node_modules/nx/dist/bin/nx.js'), ...args, '--output-style=stream'],
    {
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORCE_COLOR: '0' },
    },
  );

const started = Date.now();
log('build');
nx('run-many', '-t', 'build', '--parallel=2');
log('generated files are up to date (OpenAPI spec, SDK types)');
nx('run-many', '-t', 'check-spec', 'check-generated', '--parallel=1');
log('format, typecheck, lint');
run(process.execPath, [
  path.join(ROOT, 'node_modules/prettier/bin/prettier.cjs'),
  '--check',
  '.',
  '--log-level=warn',
]);
nx('run-many', '-t', 'typecheck', 'lint', '--parallel=2');
log('SeaweedFS for the object-storage tests');
const seaweedCode = await seaweedDone;
process.stdout.write(fs.readFileSync(seaweedLog, 'utf8'));
if (seaweedCode !== 0) fail(`tools/seaweedfs/install-seaweedfs.sh failed (exit ${seaweedCode}); see above`);
log('tests');
// One project at a time: several suites start real servers and time worker restarts.
nx('run-many', '-t', 'test', '--parallel=1');
log(`all checks and tests passed in ${Math.round((Date.now() - started) / 1000)} s`);
