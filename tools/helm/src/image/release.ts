/**
 * Releases the images: builds them with the release's version and revision from official bases
 * pinned by digest, tags each `<registry>/<name>:<version>`, pushes it and prints
 * `<registry>/<name>@<digest>`, the reference to deploy (`image.digest` in the chart's values).
 *
 *   npx nx run helm-tools:image-release --registry=ghcr.io/t2v [--version=<v>] [--images=t2v-api,t2v]
 *
 * Options: --version (default: the chart's appVersion, which is the tag the chart deploys),
 * --images, --bases=official|auto|local (default official: a release never builds on the
 * Debian-package stand-ins unless asked), --app-build=compile|context (default compile),
 * --tls-verify=false (a registry on loopback over HTTP).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { parse } from 'yaml';

import { BaseMode, Bases, resolveBases } from './bases';
import { AppBuild, BUILT_DIR, buildImages, gitRevision, ImageName, IMAGES } from './build';
import { Podman, REPO_ROOT } from './podman';

export interface ReleasedImage {
  name: ImageName;
  tag: string;
  digest: string;
  /** `<registry>/<name>@<digest>`. */
  pinned: string;
  id: string;
}

export interface ReleaseRequest {
  registry: string;
  version: string;
  names: readonly ImageName[];
  bases: BaseMode;
  appBuild: AppBuild;
  tlsVerify: boolean;
  log?: (message: string) => void;
}

export function chartAppVersion(): string {
  const chart = parse(readFileSync(path.join(REPO_ROOT, 'charts/t2v/Chart.yaml'), 'utf8')) as {
    appVersion: string;
  };
  return String(chart.appVersion);
}

/** `node:20` → `docker.io/library/node`: the repository as podman records it. */
export function fullRepository(ref: string): string {
  const name = ref.replace(/@sha256:[0-9a-f]+$/, '').replace(/:[^/:]+$/, '');
  const first = name.split('/')[0]!;
  const hasRegistry =
    name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return name;
  return `docker.io/${name.includes('/') ? name : `library/${name}`}`;
}

/**
 * Each base by the digest its registry served when it was pulled (`docker.io/library/node@sha256:…`):
 * a release build is made from exactly those, whatever the tags point to later.
 */
export async function pinByDigest(podman: Podman, bases: Bases): Promise<Bases> {
  const pinned: Record<string, string> = {};
  for (const [arg, ref] of Object.entries(bases)) {
    if (ref.includes('@sha256:')) {
      pinned[arg] = ref;
      continue;
    }
    const repo = fullRepository(ref);
    const info = await podman.imageInspect(ref);
    const digest = info.RepoDigests.find((d) => d.startsWith(`${repo}@`));
    if (!digest) throw new Error(`${ref} has no digest from ${repo}: pull it from its registry first`);
    pinned[arg] = digest;
  }
  return pinned as Bases;
}

export async function release(podman: Podman, req: ReleaseRequest): Promise<ReleasedImage[]> {
  const log = req.log ?? ((m: string) => process.stderr.write(`[release] ${m}\n`));
  const resolved = await resolveBases(podman, req.bases, log);
  const bases = resolved.official ? await pinByDigest(podman, resolved.bases) : resolved.bases;
  const { images } = await buildImages(podman, {
    names: req.names,
    tag: req.version,
    appBuild: req.appBuild,
    bases: { bases, official: resolved.official },
    version: req.version,
    revision: gitRevision(),
    record: false,
    log,
  });
  const released: ReleasedImage[] = [];
  for (const image of images) {
    const tag = `${req.registry}/${image.name}:${req.version}`;
    await podman.tag(image.ref, tag);
    log(`pushing ${tag}`);
    const digest = await podman.push(tag, { tlsVerify: req.tlsVerify });
    const pinned = `${req.registry}/${image.name}@${digest}`;
    log(`${pinned}`);
    released.push({ name: image.name, tag, digest, pinned, id: image.id });
  }
  mkdirSync(BUILT_DIR, { recursive: true });
  writeFileSync(
    path.join(BUILT_DIR, 'release.json'),
    JSON.stringify({ version: req.version, bases, images: released }, null, 2) + '\n',
  );
  return released;
}

function option(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

async function main(argv: readonly string[]): Promise<void> {
  const registry = option(argv, 'registry');
  if (!registry) throw new Error('--registry=<host/namespace> is required, e.g. --registry=ghcr.io/t2v');
  const names = (option(argv, 'images') ?? IMAGES.join(',')).split(',') as ImageName[];
  for (const n of names)
    if (!IMAGES.includes(n)) throw new Error(`unknown image ${n}: ${IMAGES.join(' or ')}`);
  const released = await release(new Podman(), {
    registry: registry.replace(/\/$/, ''),
    version: option(argv, 'version') ?? chartAppVersion(),
    names,
    bases: (option(argv, 'bases') ?? 'official') as BaseMode,
    appBuild: (option(argv, 'app-build') ?? 'compile') as AppBuild,
    tlsVerify: option(argv, 'tls-verify') !== 'false',
  });
  for (const r of released) process.stdout.write(`${r.pinned}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`[release] ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
