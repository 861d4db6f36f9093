import { deploy } from './deploy';
import { HelmDriver, RunOptions, Runner } from './helm.driver';
import { HelmError } from './helm.errors';

function recorder(answers: Record<string, { exitCode: number; stdout?: string; stderr?: string }> = {}) {
  const calls: string[][] = [];
  const runner: Runner = async (_file, args, _o: RunOptions) => {
    calls.push([...args]);
    const a = answers[args[0]!] ?? { exitCode: 0 };
    return { exitCode: a.exitCode, signal: null, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  };
  return { calls, helm: new HelmDriver({ binary: 'helm', runner }) };
}

describe('deploy', () => {
  it('lints, upgrades with wait and atomic, then reads the release back', async () => {
    const { calls, helm } = recorder({
      list: {
        exitCode: 0,
        stdout:
          '[{"name":"t2v","namespace":"t2v","revision":"4","updated":"x","status":"deployed","chart":"t2v-0.1.0","app_version":"0.1.0"}]',
      },
    });
    const rel = await deploy(helm, { environment: 'prod', chartDir: '/c/t2v', extraValues: ['site.yaml'] });
    expect(calls).toEqual([
      [
        'lint',
        '--strict',
        '--namespace=t2v',
        '--values=/c/t2v/environments/prod.yaml',
        '--values=site.yaml',
        '--',
        '/c/t2v',
      ],
      [
        'upgrade',
        '--install',
        '--namespace=t2v',
        '--create-namespace',
        '--wait',
        '--atomic',
        '--timeout=30m',
        '--values=/c/t2v/environments/prod.yaml',
        '--values=site.yaml',
        '--',
        't2v',
        '/c/t2v',
      ],
      ['list', '--output=json', '--namespace=t2v', '--filter=^t2v$'],
    ]);
    expect(rel).toMatchObject({ status: 'deployed', revision: '4' });
  });

  it('stops before upgrading when lint fails', async () => {
    const { calls, helm } = recorder({
      lint: { exitCode: 1, stderr: 'Error: 1 chart(s) linted, 1 chart(s) failed' },
    });
    await expect(deploy(helm, { environment: 'dev', chartDir: '/c/t2v' })).rejects.toThrow(HelmError);
    expect(calls.map((c) => c[0])).toEqual(['lint']);
    expect(calls[0]).toContain('--namespace=t2v-dev');
  });
});
