import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { HelmDriver, RunOptions, RunResult, Runner } from './helm.driver';
import { HelmError, HelmUsageError } from './helm.errors';
import { parseManifests } from './manifests';

const CHART = path.resolve(__dirname, '../../../charts/t2v');

/** A runner that records each call and answers with `result`. */
function fakeRunner(
  result: Partial<RunResult> = {},
): Runner & { calls: Array<{ file: string; args: string[]; options: RunOptions }> } {
  const calls: Array<{ file: string; args: string[]; options: RunOptions }> = [];
  const runner = (async (file: string, args: readonly string[], options: RunOptions) => {
    calls.push({ file, args: [...args], options });
    return { exitCode: 0, signal: null, stdout: '', stderr: '', ...result };
  }) as Runner & { calls: typeof calls };
  runner.calls = calls;
  return runner;
}

describe('HelmDriver (argument arrays)', () => {
  it('passes a hostile namespace as one argument bound to its flag', async () => {
    const runner = fakeRunner();
    const helm = new HelmDriver({ binary: 'helm', runner });
    await helm.template('t2v', CHART, { namespace: 'x; touch /tmp/pwned' });
    await helm.upgradeInstall('t2v', CHART, { namespace: '$(touch /tmp/pwned)' });
    await helm.uninstall('t2v', { namespace: '`id` && rm -rf /' });
    await helm.list({ namespace: '--all-namespaces' });
    expect(runner.calls.map((c) => c.args.filter((a) => a.startsWith('--namespace')))).toEqual([
      ['--namespace=x; touch /tmp/pwned'],
      ['--namespace=$(touch /tmp/pwned)'],
      ['--namespace=`id` && rm -rf /'],
      ['--namespace=--all-namespaces'],
    ]);
  });

  it('builds upgrade --install with typed options, flags before the positional arguments', async () => {
    const runner = fakeRunner({ stdout: 'Release "t2v" has been upgraded.' });
    const helm = new HelmDriver({ binary: '/opt/helm', runner, kubeconfig: '/k/config', kubeContext: 'gpu' });
    await helm.upgradeInstall('t2v', 'charts/t2v', {
      namespace: 't2v',
      createNamespace: true,
      wait: true,
      atomic: true,
      timeout: '20m',
      values: ['charts/t2v/environments/prod.yaml'],
      set: { 'image.tag': '0.1.0', replicaCount: 2, 'auth.apiKeys': ['a,b', 'c'] },
    });
    expect(runner.calls[0]!.file).toBe('/opt/helm');
    expect(runner.calls[0]!.args).toEqual([
      '--kubeconfig=/k/config',
      '--kube-context=gpu',
      'upgrade',
      '--install',
      '--namespace=t2v',
      '--create-namespace',
      '--wait',
      '--atomic',
      '--timeout=20m',
      '--values=charts/t2v/environments/prod.yaml',
      '--set-json=image.tag="0.1.0"',
      '--set-json=replicaCount=2',
      '--set-json=auth.apiKeys=["a,b","c"]',
      '--',
      't2v',
      'charts/t2v',
    ]);
  });

  it('lints, uninstalls and lists with their own flags', async () => {
    const runner = fakeRunner({
      stdout:
        '[{"name":"t2v","namespace":"t2v","revision":"3","updated":"now","status":"deployed","chart":"t2v-0.1.0","app_version":"0.1.0"}]',
    });
    const helm = new HelmDriver({ binary: 'helm', runner });
    await helm.lint('charts/t2v', { strict: true, values: ['a.yaml'] });
    await helm.uninstall('t2v', { namespace: 't2v', wait: true, keepHistory: true });
    const releases = await helm.list({ allNamespaces: true, filter: '^t2v$' });
    expect(runner.calls.map((c) => c.args)).toEqual([
      ['lint', '--strict', '--values=a.yaml', '--', 'charts/t2v'],
      ['uninstall', '--namespace=t2v', '--wait', '--keep-history', '--', 't2v'],
      ['list', '--output=json', '--all-namespaces', '--filter=^t2v$'],
    ]);
    expect(releases).toEqual([expect.objectContaining({ name: 't2v', status: 'deployed', revision: '3' })]);
  });

  it('returns an empty list when helm prints nothing', async () => {
    await expect(
      new HelmDriver({ binary: 'helm', runner: fakeRunner({ stdout: '' }) }).list(),
    ).resolves.toEqual([]);
  });

  it('reports stderr warnings without failing', async () => {
    const runner = fakeRunner({
      stdout: 'kind: ConfigMap\n',
      stderr: 'walk.go:75: found symbolic link in path\nWARNING: kubeconfig is group-readable\n',
    });
    const out = await new HelmDriver({ binary: 'helm', runner }).template('t2v', CHART);
    expect(out.stdout).toBe('kind: ConfigMap\n');
    expect(out.warnings).toEqual([
      'walk.go:75: found symbolic link in path',
      'WARNING: kubeconfig is group-readable',
    ]);
  });

  it('throws HelmError with exit code, stderr and arguments on failure', async () => {
    const runner = fakeRunner({
      exitCode: 1,
      stderr: 'WARNING: something\nError: INSTALLATION FAILED: cannot re-use a name\n',
    });
    const helm = new HelmDriver({ binary: 'helm', runner });
    const e = await helm.upgradeInstall('t2v', CHART).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HelmError);
    expect(e).toMatchObject({
      exitCode: 1,
      message: 'helm upgrade failed: INSTALLATION FAILED: cannot re-use a name',
      stderr: expect.stringContaining('WARNING: something'),
    });
    expect((e as HelmError).args).toContain('--install');
  });

  it('throws HelmError when helm cannot start', async () => {
    const runner = fakeRunner({
      exitCode: null,
      spawnError: Object.assign(new Error('spawn helm ENOENT'), { code: 'ENOENT' }),
    });
    await expect(new HelmDriver({ binary: 'helm', runner }).version()).rejects.toMatchObject({
      name: 'HelmError',
      exitCode: null,
      message: 'could not start helm: spawn helm ENOENT',
    });
  });

  it('refuses release names and chart references helm would read as flags', async () => {
    const helm = new HelmDriver({ binary: 'helm', runner: fakeRunner() });
    await expect(helm.template('--dry-run', CHART)).rejects.toThrow(HelmUsageError);
    await expect(helm.template('T2V', CHART)).rejects.toThrow(HelmUsageError);
    await expect(helm.uninstall('a'.repeat(54))).rejects.toThrow(HelmUsageError);
    await expect(helm.template('t2v', '--post-renderer=/bin/sh')).rejects.toThrow(HelmUsageError);
    await expect(helm.template('t2v', CHART, { set: { 'a=b,c': 1 } })).rejects.toThrow(HelmUsageError);
  });
});

describe('HelmDriver against the real helm', () => {
  const helm = new HelmDriver();
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 't2v-helm-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('is the pinned version', async () => {
    await expect(helm.version()).resolves.toBe('v3.22.0');
  });

  it('renders a hostile namespace literally and runs nothing', async () => {
    const marker = path.join(tmp, 'pwned');
    const ns = `x; touch ${marker}; $(touch ${marker}) \`touch ${marker}\``;
    const out = await helm.template('t2v', CHART, { namespace: ns, showOnly: ['templates/service.yaml'] });
    expect(parseManifests(out.stdout)[0]!.metadata.namespace).toBe(ns);
    expect(existsSync(marker)).toBe(false);
  });

  it('passes values with commas and quotes through --set-json unchanged', async () => {
    const out = await helm.template('t2v', CHART, {
      set: { 'config.extraEnv': { GREETING: 'a,b "c" d=e' } },
      showOnly: ['templates/configmap.yaml'],
    });
    expect(
      (parseManifests(out.stdout)[0] as unknown as { data: Record<string, string> }).data['GREETING'],
    ).toBe('a,b "c" d=e');
  });

  it('reports a missing binary as HelmError without an exit code', async () => {
    const e = await new HelmDriver({ binary: path.join(tmp, 'no-helm') }).version().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HelmError);
    expect((e as HelmError).exitCode).toBeNull();
    expect((e as HelmError).message).toMatch(/could not start .*ENOENT/);
  });

  it('fails list against an unreachable cluster with the exit code and reason', async () => {
    const kubeconfig = path.join(tmp, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
      { mode: 0o600 },
    );
    const offline = new HelmDriver({ kubeconfig, processTimeoutMs: 30_000 });
    const e = await offline.list({ namespace: 'x; touch /tmp/pwned' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HelmError);
    expect((e as HelmError).exitCode).toBe(1);
    expect((e as HelmError).stderr).toMatch(/127\.0\.0\.1:1|unreachable|connection refused/i);
  });
});
