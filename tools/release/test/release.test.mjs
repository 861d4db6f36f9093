// Releases as users receive them: `nx release publish` puts @t2v/sdk and @t2v/cli on a registry
// (Verdaccio on 127.0.0.1), a scratch app installs both by name from it, runs the SDK README's quick
// start against the live API and `npx t2v generate`; the repository README's install from tarballs
// runs as written; `nx release version` and `changelog` are previewed with --dry-run (nothing in
// the repository changes).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startBuiltApi } from '../../scripts/api-process.mjs';
import { ROOT } from '../../scripts/prereqs.mjs';
import { startRegistry } from '../registry.mjs';

const NX = path.join(ROOT, 'node_modules/nx/dist/bin/nx.js');
const SDK = JSON.parse(fs.readFileSync(path.join(ROOT, 'libs/sdk/package.json'), 'utf8'));
const CLI = JSON.parse(fs.readFileSync(path.join(ROOT, 'apps/cli/package.json'), 'utf8'));

let registry;
let api;
let scratch;
let env;

/** Runs nx; its stdout and stderr (dry runs print file names on one, diffs on the other). */
function nx(...args) {
  const r = spawnSync(process.execPath, [NX, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 5 * 60_000,
    env: { ...env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORCE_COLOR: '0' },
  });
  const output = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, `nx ${args.join(' ')} failed:\n${output}`);
  return output;
}

function ffprobe(file) {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=codec_name,width,height',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  return JSON.parse(out).streams[0];
}

before(async () => {
  registry = await startRegistry();
  api = await startBuiltApi({ T2V_SYNTHETIC_STEP_MS: '1' });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-scratch-app-'));
  // npm everywhere below talks to the local registry only, with a cache of its own.
  // Without the npm_config_* an enclosing `npm test` exports (its prefix, workspaces, registry):
  // those would send the scratch app's install into this workspace.
  const inherited = Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k));
  env = {
    ...Object.fromEntries(inherited),
    NPM_CONFIG_USERCONFIG: registry.npmrc,
    NPM_CONFIG_CACHE: path.join(scratch, '.npm-cache'),
    NPM_CONFIG_AUDIT: 'false',
    NPM_CONFIG_FUND: 'false',
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    T2V_BASE_URL: api.url,
  };
});

after(async () => {
  api?.stop();
  await registry?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('release through a registry', () => {
  it('nx release publish puts @t2v/sdk and @t2v/cli on the registry', async () => {
    nx('release', 'publish', `--registry=${registry.url}`);
    for (const pkg of [SDK, CLI]) {
      const doc = await (await fetch(`${registry.url}${pkg.name.replace('/', '%2f')}`)).json();
      assert.ok(doc.versions?.[pkg.version], `${pkg.name}@${pkg.version} is on the registry`);
      // npm writes bin paths without the leading ./
      assert.equal(doc.versions[pkg.version].bin?.t2v, pkg.bin?.t2v?.replace(/^\.\//, ''));
    }
  });

  it('a scratch app installs both by name and runs the SDK README quick start against the live API', () => {
    fs.writeFileSync(
      path.join(scratch, 'package.json'),
      JSON.stringify({ name: 'scratch-app', private: true }),
    );
    execFileSync('npm', ['install', '@t2v/sdk', '@t2v/cli', '--loglevel=error'], {
      cwd: scratch,
      env,
      timeout: 5 * 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lock = JSON.parse(fs.readFileSync(path.join(scratch, 'package-lock.json'), 'utf8'));
    for (const pkg of [SDK, CLI]) {
      const entry = lock.packages[`node_modules/${pkg.name}`];
      assert.equal(entry.version, pkg.version);
      assert.ok(entry.resolved.startsWith(registry.url), `${pkg.name} came from ${entry.resolved}`);
    }
    const installedCli = path.join(scratch, 'node_modules/@t2v/cli');
    assert.ok(!fs.existsSync(path.join(installedCli, 'src')), 'the CLI ships its build, not its sources');

    const readme = fs.readFileSync(path.join(scratch, 'node_modules/@t2v/sdk/README.md'), 'utf8');
    const quickstart = /```js\n(\/\/ quickstart\.mjs[^\n]*\n[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(quickstart, 'the SDK README has quickstart.mjs');
    fs.writeFileSync(path.join(scratch, 'quickstart.mjs'), quickstart);
    const out = execFileSync(process.execPath, ['quickstart.mjs'], {
      cwd: scratch,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.match(out, /completed 100%/);
    assert.match(out, /saved fox\.mp4/);
    assert.deepEqual(ffprobe(path.join(scratch, 'fox.mp4')), { codec_name: 'h264', width: 832, height: 480 });
  });

  it('npx t2v generate runs the installed CLI', () => {
    const version = execFileSync('npx', ['t2v', '--version'], { cwd: scratch, env, encoding: 'utf8' }).trim();
    assert.equal(version, CLI.version);
    const out = execFileSync(
      'npx',
      ['t2v', 'generate', 'a cat dancing in the rain', '-o', 'cat.mp4', '--seconds', '1'],
      {
        cwd: scratch,
        env,
        encoding: 'utf8',
        timeout: 60_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    assert.equal(out.trim(), path.join(scratch, 'cat.mp4'));
    assert.equal(ffprobe(path.join(scratch, 'cat.mp4')).codec_name, 'h264');
  });

  it("the README's install from tarballs works as written: npm pack, npm install, npx t2v", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = /```sh\n(# in a clone of this repository[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'the README has the tarball install block');
    // Lines before "# then in your project" run in the repository, the rest in a new project; ~ is
    // a scratch home, so the tarballs land in a directory of this test.
    const [inRepo, inProject] = block.split(/^# then in your project.*$/m);
    const home = path.join(scratch, 'home');
    const project = path.join(scratch, 'tarball-app');
    fs.mkdirSync(home);
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'tarball-app', private: true }),
    );
    const sh = (script, cwd) =>
      execFileSync('sh', ['-ec', script], {
        cwd,
        env: { ...env, HOME: home, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' },
        encoding: 'utf8',
        timeout: 5 * 60_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    sh(inRepo, ROOT);
    assert.deepEqual(fs.readdirSync(path.join(home, 't2v-packages')).sort(), [
      `t2v-cli-${CLI.version}.tgz`,
      `t2v-sdk-${SDK.version}.tgz`,
    ]);
    const out = sh(inProject, project);
    assert.equal(out.trim().split('\n').at(-1), CLI.version); // npx t2v --version
    const lock = JSON.parse(fs.readFileSync(path.join(project, 'package-lock.json'), 'utf8'));
    for (const pkg of [SDK, CLI]) {
      assert.match(
        lock.packages[`node_modules/${pkg.name}`].resolved,
        /^file:.*t2v-packages\/t2v-(sdk|cli)-/,
      );
    }
  });

  it('nx release version and changelog (dry run) move both packages and their version constants together', () => {
    const before = execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' });
    const version = nx('release', 'version', '9.8.7', '--dry-run');
    for (const file of [
      'libs/sdk/package.json',
      'libs/sdk/src/version.ts',
      'apps/cli/package.json',
      'apps/cli/src/program.ts',
    ])
      assert.match(version, new RegExp(`UPDATE ${file.replace(/[./]/g, '\\$&')} \\[dry-run\\]`));
    assert.match(version, /- +"@t2v\/sdk": "[^"]+",\n\+ +"@t2v\/sdk": "9\.8\.7"/);
    const changelog = nx('release', 'changelog', '9.8.7', '--dry-run');
    assert.match(changelog, /libs\/sdk\/CHANGELOG\.md/);
    assert.match(changelog, /apps\/cli\/CHANGELOG\.md/);
    assert.match(changelog, /## 9\.8\.7/);
    assert.equal(execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }), before);
  });
});
