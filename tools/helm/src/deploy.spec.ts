import { deploy } from './deploy';
import { HelmDriver, RunOptions, Runner } from './helm.driver';
import { HelmError } from './helm.errors';
import { RolloutError } from './rollout';

type Answer = { exitCode: number; stdout?: string; stderr?: string };

function recorder(answers: Record<string, Answer | (() => Answer)> = {}) {
  const calls: string[][] = [];
  const runner: Runner = async (_file, args, _o: RunOptions) => {
    calls.push([...args]);
    const found = answers[args[0]!];
    const a = (typeof found === 'function' ? found() : found) ?? { exitCode: 0 };
    return { exitCode: a.exitCode, signal: null, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  };
  return { calls, helm: new HelmDriver({ binary: 'helm', runner }) };
}

const LISTED = {
  exitCode: 0,
  stdout:
    '[{"name":"t2v","namespace":"t2v","revision":"4","updated":"x","status":"deployed","chart":"t2v-0.1.0","app_version":"0.1.0"}]',
};

/** `helm status --show-resources -o json` with one Deployment in the given state, and its pod. */
function statusWith(
  dep: { replicas: number; updated: number; available: number; total?: number },
  podPending = false,
): Answer {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 't2v', generation: 2 },
    spec: { replicas: dep.replicas },
    status: {
      observedGeneration: 2,
      replicas: dep.total ?? dep.updated,
      updatedReplicas: dep.updated,
      availableReplicas: dep.available,
    },
  };
  // related pods come in a PodList: no kind or apiVersion of their own
  const pod = {
    metadata: { name: 't2v-abc' },
    status: {
      phase: podPending ? 'Pending' : 'Running',
      conditions: podPending
        ? [
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'Unschedulable',
              message: '0/4 nodes are available: 2 Insufficient nvidia.com/gpu.',
            },
          ]
        : [],
    },
  };
  return {
    exitCode: 0,
    stdout: JSON.stringify({
      name: 't2v',
      namespace: 't2v',
      version: 5,
      info: {
        status: 'deployed',
        resources: { 'v1/Deployment': [deployment], 'v1/Pod(related)': [{ kind: 'PodList', items: [pod] }] },
      },
    }),
  };
}

describe('deploy', () => {
  it('lints, upgrades with wait and atomic, checks the rollout, then reads the release back', async () => {
    const { calls, helm } = recorder({
      list: LISTED,
      status: statusWith({ replicas: 1, updated: 1, available: 1 }),
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
      ['list', '--output=json', '--namespace=t2v', '--filter=^t2v$'],
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
      ['status', '--output=json', '--namespace=t2v', '--show-resources', '--', 't2v'],
      ['list', '--output=json', '--namespace=t2v', '--filter=^t2v$'],
    ]);
    expect(rel).toMatchObject({ status: 'deployed', revision: '4' });
  });

  it('keeps polling while helm --wait accepted a Deployment whose only pod is not ready yet', async () => {
    let n = 0;
    const { calls, helm } = recorder({
      list: LISTED,
      status: () =>
        ++n < 3
          ? statusWith({ replicas: 1, updated: 1, available: 0 })
          : statusWith({ replicas: 1, updated: 1, available: 1 }),
    });
    await deploy(helm, { environment: 'staging', chartDir: '/c/t2v', pollMs: 1 });
    expect(calls.filter((c) => c[0] === 'status')).toHaveLength(3);
    expect(calls.map((c) => c[0])).not.toContain('rollback');
  });

  it('rolls back to the previous revision when the rollout does not finish in time, naming the pending pod', async () => {
    const { calls, helm } = recorder({
      list: LISTED,
      status: statusWith({ replicas: 1, updated: 1, available: 0 }, true),
    });
    const err = await deploy(helm, {
      environment: 'staging',
      chartDir: '/c/t2v',
      timeout: '50ms',
      pollMs: 5,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutError);
    expect((err as Error).message).toContain('Deployment t2v: 0 of 1 updated replicas available');
    expect((err as Error).message).toContain(
      'pod t2v-abc Pending: Unschedulable 0/4 nodes are available: 2 Insufficient nvidia.com/gpu.',
    );
    expect((err as Error).message).toContain('rolled back to revision 4');
    expect(calls.at(-1)).toEqual([
      'rollback',
      '--namespace=t2v-staging',
      '--wait',
      '--timeout=5m',
      '--',
      't2v',
      '4',
    ]);
  });

  it('uninstalls a first install whose rollout does not finish, as --atomic would', async () => {
    const { calls, helm } = recorder({ status: statusWith({ replicas: 2, updated: 2, available: 1 }) });
    await expect(
      deploy(helm, { environment: 'prod', chartDir: '/c/t2v', timeout: '20ms', pollMs: 5 }),
    ).rejects.toThrow(/1 of 2 updated replicas available[\s\S]*uninstalled the failed release/);
    expect(calls.at(-1)).toEqual(['uninstall', '--namespace=t2v', '--wait', '--', 't2v']);
  });

  it('waits for old replicas to go before calling a rollout done', async () => {
    let n = 0;
    const { calls, helm } = recorder({
      list: LISTED,
      status: () =>
        ++n < 2
          ? statusWith({ replicas: 2, updated: 2, available: 2, total: 3 })
          : statusWith({ replicas: 2, updated: 2, available: 2 }),
    });
    await deploy(helm, { environment: 'prod', chartDir: '/c/t2v', pollMs: 1 });
    expect(calls.filter((c) => c[0] === 'status')).toHaveLength(2);
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
