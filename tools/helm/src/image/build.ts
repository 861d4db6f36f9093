/**
 * Builds the images of apps/api/Dockerfile with podman:
 *
 *   node -r @swc-node/register tools/helm/src/image/build.ts [t2v-api] [t2v] [options]
 *   npx nx run helm-tools:image          # both
 *   npx nx run helm-tools:image-api      # t2v-api from what `nx run-many -t build` compiled (CI)
 *
 * Options: --tag=<tag> (default dev), --app-build=compile|context (Dockerfile ARG APP_BUILD),
 * --bases=auto|official|local, --version=<v>, --revision=<git sha>.
 *
 * Each image is tagged localhost/<name>:<tag> and localhost/<name>:id-<12 hex of its id>; what was
 * built (reference, id, size, seconds, bases) is written to dist/images/<name>.json for the tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { BaseMode, Bases, DOCKERFILE, IGNORE_FILE, LocalBase, resolveBases } from './bases';
import { Podman, REPO_ROOT } from './podman';

export const IMAGES = ['t2v-api', 't2v'] as const;
export type ImageName = (typeof IMAGES)[number];
export type AppBuild = 'compile' | 'context';

/** What one build produced (dist/images/<name>.json). */
export interface BuiltImage {
  name: ImageName;
  /** localhost/<name>:id-<12 hex>: names exactly this build. */
  ref: string;
  id: string;
  bytes: number;
  seconds: number;
  appBuild: AppBuild;
  bases: Bases;
  officialBases: boolean;
  version: string;
  revision: string;
}

export const BUILT_DIR = path.join(REPO_ROOT, 'dist/images');

export function builtImageFile(name: ImageName): string {
  return path.join(BUILT_DIR, `${name}.json`);
}

/** The image the last build of `name` in this checkout produced, or a message saying how to build it. */
export function lastBuilt(name: ImageName): BuiltImage {
  try {
    return JSON.parse(readFileSync(builtImageFile(name), 'utf8')) as BuiltImage;
  } catch {
    const target = name === 't2v-api' ? 'image-api' : 'image';
    throw new Error(`no ${name} image built in this checkout: run npx nx run helm-tools:${target}`);
  }
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
}

export function gitRevision(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export interface BuildRequest {
  names: readonly ImageName[];
  tag: string;
  appBuild: AppBuild;
  /** how to find the bases, or the bases themselves (a release pins them first). */
  bases: BaseMode | { bases: Bases; official: boolean };
  version: string;
  revision: string;
  /** write dist/images/<name>.json (what the tests run); a release build does not. */
  record?: boolean;
  log?: (message: string) => void;
}

/** Where the RUN steps find the build machine's certificate authorities (see buildCaVolumes). */
const BUILD_CA = '/run/t2v-build-ca.crt';

/**
 * Machines whose HTTPS traffic passes a proxy with its own certificate authority name that CA
 * bundle to npm and Node (`cafile`, NODE_EXTRA_CA_CERTS). The RUN steps that download (npm ci,
 * pip install) then need it too: the bundle and an npm and a pip configuration that point at it
 * are bind-mounted for the build only, so no image carries them and the Dockerfile is unchanged.
 */
export function buildCaVolumes(dir: string): string[] {
  let ca = process.env['NODE_EXTRA_CA_CERTS'] ?? '';
  if (!ca) {
    try {
      ca = execFileSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).trim();
    } catch {
      ca = '';
    }
  }
  if (!ca || ca === 'null' || ca === 'undefined' || !existsSync(ca)) return [];
  writeFileSync(path.join(dir, 'npmrc'), `cafile=${BUILD_CA}\n`);
  writeFileSync(path.join(dir, 'pip.conf'), `[global]\ncert = ${BUILD_CA}\n`);
  return [
    `${ca}:${BUILD_CA}:ro`,
    `${path.join(dir, 'npmrc')}:/usr/local/etc/npmrc:ro`,
    `${path.join(dir, 'pip.conf')}:/etc/pip.conf:ro`,
  ];
}

export async function buildImages(
  podman: Podman,
  req: BuildRequest,
): Promise<{ images: BuiltImage[]; madeBases: LocalBase[] }> {
  const log = req.log ?? ((m: string) => process.stderr.write(`[image] ${m}\n`));
  const { bases, official, made } =
    typeof req.bases === 'string' ? await resolveBases(podman, req.bases, log) : { ...req.bases, made: [] };
  const images: BuiltImage[] = [];
  const caDir = mkdtempSync(path.join(tmpdir(), 't2v-build-ca-'));
  const volumes = buildCaVolumes(caDir);
  if (volumes.length)
    log(`RUN steps use this machine's certificate authorities (${volumes[0]!.split(':')[0]})`);
  try {
    for (const name of req.names)
      images.push(await buildOne(podman, req, name, bases, official, volumes, log));
  } finally {
    rmSync(caDir, { recursive: true, force: true });
  }
  return { images, madeBases: made };
}

async function buildOne(
  podman: Podman,
  req: BuildRequest,
  name: ImageName,
  bases: Bases,
  official: boolean,
  volumes: string[],
  log: (message: string) => void,
): Promise<BuiltImage> {
  const started = Date.now();
  const tag = `localhost/${name}:${req.tag}`;
  log(`building ${tag} (APP_BUILD=${req.appBuild}, bases ${Object.values(bases).join(', ')})`);
  await podman.build({
    file: DOCKERFILE,
    ignoreFile: IGNORE_FILE,
    context: REPO_ROOT,
    target: name,
    tag,
    networkHost: true,
    jobs: 2,
    volumes,
    buildArgs: { ...bases, APP_BUILD: req.appBuild, VERSION: req.version, REVISION: req.revision },
  });
  const seconds = (Date.now() - started) / 1000;
  const info = await podman.imageInspect(tag);
  const ref = `localhost/${name}:id-${info.Id.replace(/^sha256:/, '').slice(0, 12)}`;
  await podman.tag(tag, ref);
  const built: BuiltImage = {
    name,
    ref,
    id: info.Id,
    bytes: info.Size,
    seconds,
    appBuild: req.appBuild,
    bases,
    officialBases: official,
    version: req.version,
    revision: req.revision,
  };
  if (req.record !== false) {
    mkdirSync(BUILT_DIR, { recursive: true });
    writeFileSync(builtImageFile(name), JSON.stringify(built, null, 2) + '\n');
  }
  log(`${tag} = ${ref}: ${(info.Size / 1e6).toFixed(0)} MB, built in ${seconds.toFixed(0)} s`);
  return built;
}

function option(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

async function main(argv: readonly string[]): Promise<void> {
  const names = argv.filter((a) => !a.startsWith('--'));
  for (const n of names) {
    if (!(IMAGES as readonly string[]).includes(n))
      throw new Error(`unknown image ${n}: ${IMAGES.join(' or ')}`);
  }
  const appBuild = option(argv, 'app-build') ?? 'compile';
  if (appBuild !== 'compile' && appBuild !== 'context') throw new Error('--app-build is compile or context');
  const bases = option(argv, 'bases') ?? 'auto';
  if (!['auto', 'official', 'local'].includes(bases)) throw new Error('--bases is auto, official or local');
  await buildImages(new Podman(), {
    names: names.length ? (names as ImageName[]) : IMAGES,
    tag: option(argv, 'tag') ?? 'dev',
    appBuild,
    bases: bases as BaseMode,
    version: option(argv, 'version') ?? packageVersion(),
    revision: option(argv, 'revision') ?? gitRevision(),
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`[image] ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
