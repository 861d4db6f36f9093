/**
 * Packaging test: `npm pack` the built SDK, install the tarball into a scratch project with npm
 * (got comes from the registry), type-check a TypeScript consumer, and run a CommonJS and an ES
 * module consumer against a live API. Needs network access to the npm registry.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type LiveApi, startApi, WORKSPACE_ROOT } from '@t2v/testing/live-api';

const SDK_DIR = join(WORKSPACE_ROOT, 'libs/sdk');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function sh(cmd: string, args: string[], options: ExecFileSyncOptions = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  }) as string;
}

let api: LiveApi;
let scratch: string;
let tarball: string;

beforeAll(async () => {
  const packDir = mkdtempSync(join(tmpdir(), 't2v-pack-'));
  const packed = JSON.parse(
    sh(npm, ['pack', '--json', '--pack-destination', packDir], { cwd: SDK_DIR }),
  ) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  tarball = join(packDir, packed[0]!.filename);
  const files = packed[0]!.files.map((f) => f.path);
  writeFileSync(join(packDir, 'files.json'), JSON.stringify(files));

  scratch = mkdtempSync(join(tmpdir(), 't2v-consumer-'));
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
  );
  sh(
    npm,
    [
      'install',
      tarball,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
      '--loglevel=error',
    ],
    {
      cwd: scratch,
      timeout: 180_000,
    },
  );
  for (const f of ['consumer.cjs', 'consumer.mjs', 'consumer.ts'])
    copyFileSync(join(SDK_DIR, 'test/packaging', f), join(scratch, f));

  api = await startApi();
}, 240_000);

afterAll(async () => {
  await api?.stop();
});

describe('the packed @t2v/sdk', () => {
  it('ships the built ESM with declarations and the README, and nothing else', () => {
    const files = JSON.parse(readFileSync(join(tarball, '..', 'files.json'), 'utf8')) as string[];
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/generated/openapi.d.ts',
      ]),
    );
    expect(files.filter((f) => /\.spec\.|\/testing\/|^src\/|^test\//.test(f))).toEqual([]);
    const installed = JSON.parse(
      readFileSync(join(scratch, 'node_modules/@t2v/sdk/package.json'), 'utf8'),
    ) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies)).toEqual(['got']);
    console.log(`packed ${tarball.split('/').pop()}: ${files.length} files`);
  });

  it('type-checks a TypeScript consumer (module nodenext)', () => {
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(WORKSPACE_ROOT, 'node_modules/@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    sh(process.execPath, [join(WORKSPACE_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: scratch,
    });
  });

  it.each(['quickstart.mjs', 'quickstart.cjs'])('runs the README example %s against the live API', (name) => {
    const readme = readFileSync(join(scratch, 'node_modules/@t2v/sdk/README.md'), 'utf8');
    const blocks = new Map(
      [...readme.matchAll(/```js\n\/\/ (quickstart\.[cm]js)[^\n]*\n([\s\S]*?)```/g)].map((m) => [
        m[1]!,
        m[2]!,
      ]),
    );
    expect(blocks.has(name)).toBe(true);
    writeFileSync(join(scratch, name), blocks.get(name)!);
    const out = sh(process.execPath, [name], {
      cwd: scratch,
      env: { PATH: process.env['PATH'] ?? '', T2V_BASE_URL: api.url },
      timeout: 60_000,
    });
    console.log(`README ${name}:\n${out.trim()}`);
    expect(out).toContain(name.endsWith('.mjs') ? 'saved fox.mp4' : '256x256');
  });

  it.each(['consumer.cjs', 'consumer.mjs'])('runs %s against the live API', (script) => {
    const out = sh(process.execPath, [script], {
      cwd: scratch,
      env: { PATH: process.env['PATH'] ?? '', T2V_BASE_URL: api.url },
      timeout: 60_000,
    });
    console.log(`${script}: ${out.trim()}`);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
      status: string;
      badParam: string;
      bytes: number;
      seen: string[];
    };
    expect(result.status).toBe('completed');
    expect(result.badParam).toBe('size');
    expect(result.bytes).toBeGreaterThan(1000);
    expect(result.seen).toContain('completed');
  });
});
