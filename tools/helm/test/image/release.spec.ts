/**
 * Releasing the images through a registry, as users receive them: the CNCF distribution registry
 * (tools/helm/install-registry.sh) on 127.0.0.1, `release()` tags and pushes, and the image is
 * pulled back by its digest into an empty image store, where it is the image that was built
 * (same id, the release's version and revision). CI releases t2v-api; the GPU image goes the
 * same way (`npx nx run helm-tools:image-release`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { localBases } from '../../src/image/bases';
import { gitRevision } from '../../src/image/build';
import { Podman, REPO_ROOT } from '../../src/image/podman';
import { pinByDigest, release, ReleasedImage } from '../../src/image/release';
import { Any, render } from '../chart.harness';
import { freePort } from '@t2v/testing/redis';

const REGISTRY = path.join(REPO_ROOT, '.tools/bin/registry');
const VERSION = '9.8.7-release-test';
const podman = new Podman();

let dir: string;
let child: ChildProcess;
let host: string;
let released: ReleasedImage[];
const log: string[] = [];

/** The digest the registry serves for `repository:tag`. */
async function manifestDigest(repository: string, tag: string): Promise<string | null> {
  const r = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  return r.headers.get('docker-content-digest');
}

beforeAll(async () => {
  if (!existsSync(REGISTRY))
    throw new Error(`${REGISTRY} is missing: run bash tools/helm/install-registry.sh`);
  dir = mkdtempSync(path.join(tmpdir(), 't2v-registry-'));
  host = `127.0.0.1:${await freePort()}`;
  const config = path.join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: { level: warn }',
      `storage: { filesystem: { rootdirectory: ${path.join(dir, 'storage')} }, delete: { enabled: true } }`,
      `http: { addr: ${host} }`,
      '',
    ].join('\n'),
  );
  child = spawn(REGISTRY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => log.push(String(d)));
  child.stderr!.on('data', (d) => log.push(String(d)));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 100 || child.exitCode !== null) throw new Error(`the registry did not start:\n${log.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  released = await release(podman, {
    registry: `${host}/t2v`,
    version: VERSION,
    names: ['t2v-api'],
    bases: 'auto',
    appBuild: 'context',
    tlsVerify: false,
    log: () => {},
  });
}, 600_000);

afterAll(async () => {
  child?.kill('SIGTERM');
  for (const r of released ?? []) await podman.removeImage(r.tag);
  await podman.removeImage(`localhost/t2v-api:${VERSION}`);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('image release through a registry on loopback', () => {
  it('pushes t2v-api tagged with the version; the registry serves that tag at the printed digest', async () => {
    expect(released.map((r) => r.name)).toEqual(['t2v-api']);
    const [api] = released;
    expect(api!.pinned).toBe(`${host}/t2v/t2v-api@${api!.digest}`);
    expect(api!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const tags = (await (await fetch(`http://${host}/v2/t2v/t2v-api/tags/list`)).json()) as Any;
    expect(tags.tags).toContain(VERSION);
    expect(await manifestDigest('t2v/t2v-api', VERSION)).toBe(api!.digest);
  });

  it('pulled back by digest into an empty image store, it is the image that was built, labelled with the release', async () => {
    const [api] = released;
    const store = mkdtempSync(path.join(tmpdir(), 't2v-pull-'));
    const fresh = new Podman({
      storage: { root: path.join(store, 'root'), runroot: path.join(store, 'run') },
    });
    try {
      await fresh.run(['pull', '--quiet', '--tls-verify=false', api!.pinned], 300_000);
      const info = await fresh.imageInspect(api!.pinned);
      expect(info.Id).toBe(api!.id);
      expect(info.Config.Labels).toMatchObject({
        'org.opencontainers.image.version': VERSION,
        'org.opencontainers.image.revision': gitRevision(),
        'org.opencontainers.image.title': 't2v-api',
      });
      expect(info.Config.User).toBe('10001:10001');
    } finally {
      await fresh.attempt(['rmi', '--all', '--force']);
      execFileSync('rm', ['-rf', store]);
    }
  });

  it('the chart deploys it by that digest', async () => {
    const [api] = released;
    const objects = await render([], {
      'apiImage.registry': host,
      'apiImage.repository': 't2v/t2v-api',
      'apiImage.digest': api!.digest,
    });
    const deployment = objects.find((o) => o.kind === 'Deployment') as Any;
    expect(deployment.spec.template.spec.containers[0].image).toBe(api!.pinned);
  });

  it('pins a base image by the digest its registry serves', async () => {
    const { bases } = await localBases(podman, () => {});
    const name = `${host}/library/debian:bookworm-slim`;
    await podman.tag(bases.DEBIAN_IMAGE, name);
    const store = mkdtempSync(path.join(tmpdir(), 't2v-pull-'));
    // pulled into an empty store, as a release machine pulls an official base
    const fresh = new Podman({
      storage: { root: path.join(store, 'root'), runroot: path.join(store, 'run') },
    });
    try {
      await podman.push(name, { tlsVerify: false });
      await fresh.run(['pull', '--quiet', '--tls-verify=false', name], 300_000);
      const served = await manifestDigest('library/debian', 'bookworm-slim');
      const other = `${host}/library/node@sha256:${'0'.repeat(64)}`;
      expect(await pinByDigest(fresh, { DEBIAN_IMAGE: name, NODE_IMAGE: other })).toEqual({
        DEBIAN_IMAGE: `${host}/library/debian@${served}`,
        NODE_IMAGE: other,
      });
    } finally {
      await podman.removeImage(name);
      await fresh.attempt(['rmi', '--all', '--force']);
      execFileSync('rm', ['-rf', store]);
    }
  });
});
