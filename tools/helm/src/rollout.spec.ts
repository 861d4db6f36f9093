import { parseHelmDuration, workloadState } from './rollout';

describe('parseHelmDuration', () => {
  it.each([
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['500ms', 500],
    ['1m30s', 90_000],
  ])('%s is %d ms', (text, ms) => expect(parseHelmDuration(text)).toBe(ms));

  it.each(['', '30', 'm', '5 m', '10x'])('refuses %j', (text) =>
    expect(() => parseHelmDuration(text)).toThrow(/not a duration/),
  );
});

describe('workloadState', () => {
  const dep = (spec: number, status: Record<string, number>, generation = 1) => ({
    kind: 'Deployment',
    metadata: { name: 'd', generation },
    spec: { replicas: spec },
    status: { observedGeneration: 1, ...status },
  });

  it('is done only with every replica updated, available and no old one left', () => {
    expect(workloadState(dep(2, { replicas: 2, updatedReplicas: 2, availableReplicas: 2 }))?.done).toBe(true);
    expect(workloadState(dep(2, { replicas: 2, updatedReplicas: 1, availableReplicas: 2 }))?.reason).toBe(
      '1 of 2 replicas updated',
    );
    expect(workloadState(dep(2, { replicas: 3, updatedReplicas: 2, availableReplicas: 2 }))?.reason).toBe(
      '1 old replicas still running',
    );
    expect(workloadState(dep(1, { replicas: 1, updatedReplicas: 1, availableReplicas: 0 }))?.reason).toBe(
      '0 of 1 updated replicas available',
    );
  });

  it('is not done before the controller observed the new generation', () => {
    expect(workloadState(dep(1, { replicas: 1, updatedReplicas: 1, availableReplicas: 1 }, 2))?.done).toBe(
      false,
    );
  });

  it('reads a StatefulSet by ready replicas and revision, and ignores other kinds', () => {
    const sts = {
      kind: 'StatefulSet',
      metadata: { name: 'r', generation: 1 },
      spec: { replicas: 1 },
      status: {
        observedGeneration: 1,
        replicas: 1,
        updatedReplicas: 1,
        readyReplicas: 1,
        currentRevision: 'a',
        updateRevision: 'b',
      },
    };
    expect(workloadState(sts)?.reason).toBe('revision not current yet');
    expect(workloadState({ ...sts, status: { ...sts.status, currentRevision: 'b' } })?.done).toBe(true);
    expect(workloadState({ kind: 'Service', metadata: { name: 's' } })).toBeUndefined();
  });
});
