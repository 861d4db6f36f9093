/**
 * Whether a release's workloads finished rolling out, read from `helm status --show-resources`
 * (helm's own connection, so every kubeconfig auth helm supports works here too).
 *
 * `helm --wait` is not enough on its own: it counts a Deployment ready once
 * `replicas - maxUnavailable` pods of the new ReplicaSet are ready, which is 0 for a one-replica
 * Deployment with `maxUnavailable: 1` (the chart's strategy for a full GPU pool). A release can
 * then be "deployed" while its only pod is Pending. This check is `kubectl rollout status`:
 * every replica updated, available, and no old pod left.
 */
import { HelmDriver, HelmLiveObject, HelmStatus } from './helm.driver';

export interface WorkloadState {
  kind: string;
  name: string;
  done: boolean;
  /** why it is not done, in words. */
  reason: string;
}

/** One Deployment or StatefulSet: done, or what it still waits for. */
export function workloadState(obj: HelmLiveObject): WorkloadState | undefined {
  const kind = obj.kind ?? '';
  if (kind !== 'Deployment' && kind !== 'StatefulSet') return undefined;
  const name = obj.metadata?.name ?? '?';
  const st = obj.status ?? {};
  const want = Number(obj.spec?.replicas ?? 1);
  const generation = obj.metadata?.generation ?? 0;
  const state = (done: boolean, reason: string): WorkloadState => ({ kind, name, done, reason });
  if ((st.observedGeneration ?? 0) < generation)
    return state(false, 'the controller has not seen the new spec yet');
  const updated = Number(st.updatedReplicas ?? 0);
  const total = Number(st.replicas ?? 0);
  const available = Number((kind === 'Deployment' ? st.availableReplicas : st.readyReplicas) ?? 0);
  if (updated < want) return state(false, `${updated} of ${want} replicas updated`);
  if (total > updated) return state(false, `${total - updated} old replicas still running`);
  if (available < want) return state(false, `${available} of ${want} updated replicas available`);
  if (kind === 'StatefulSet' && st.updateRevision && st.currentRevision !== st.updateRevision) {
    return state(false, 'revision not current yet');
  }
  return state(true, `${available} of ${want} replicas available`);
}

/** Pending or failing pods of the release, with the scheduler's or kubelet's reason. */
export function podProblems(status: HelmStatus): string[] {
  const out: string[] = [];
  for (const [key, objs] of Object.entries(status.info.resources ?? {})) {
    if (!key.includes('Pod')) continue;
    // related pods come as one PodList per workload; their items carry no kind of their own
    const items = objs.flatMap((o) =>
      o.kind === 'PodList' ? ((o as { items?: HelmLiveObject[] }).items ?? []) : [o],
    );
    for (const p of items) {
      if ((p.kind !== undefined && p.kind !== 'Pod') || p.metadata === undefined) continue;
      const phase = p.status?.phase ?? 'Unknown';
      const conds: { type: string; status: string; reason?: string; message?: string }[] =
        p.status?.conditions ?? [];
      const unscheduled = conds.find((c) => c.type === 'PodScheduled' && c.status === 'False');
      const waiting = (p.status?.containerStatuses ?? [])
        .map((c: { state?: { waiting?: { reason?: string; message?: string } } }) => c.state?.waiting)
        .find((w: { reason?: string } | undefined) => w?.reason && w.reason !== 'ContainerCreating');
      if (unscheduled)
        out.push(
          `pod ${p.metadata.name} ${phase}: ${unscheduled.reason ?? ''} ${unscheduled.message ?? ''}`.trim(),
        );
      else if (waiting)
        out.push(`pod ${p.metadata.name} ${phase}: ${waiting.reason} ${waiting.message ?? ''}`.trim());
    }
  }
  return out;
}

export function releaseWorkloads(status: HelmStatus): WorkloadState[] {
  const states: WorkloadState[] = [];
  for (const objs of Object.values(status.info.resources ?? {})) {
    for (const o of objs) {
      const s = workloadState(o);
      if (s) states.push(s);
    }
  }
  return states;
}

export class RolloutError extends Error {}

/**
 * Polls the release until every Deployment and StatefulSet has rolled out, or throws a
 * RolloutError naming what is not done and the pods' reasons when `deadline` passes.
 */
export async function waitForRollout(
  helm: HelmDriver,
  release: string,
  namespace: string,
  deadline: number,
  pollMs = 2000,
): Promise<WorkloadState[]> {
  for (;;) {
    const status = await helm.status(release, { namespace, showResources: true });
    const states = releaseWorkloads(status);
    if (states.every((s) => s.done)) return states;
    if (Date.now() >= deadline) {
      const waiting = states.filter((s) => !s.done).map((s) => `${s.kind} ${s.name}: ${s.reason}`);
      const pods = podProblems(status);
      throw new RolloutError(
        `rollout of release ${release} in ${namespace} did not finish in time: ${waiting.join('; ')}` +
          (pods.length ? `\n${pods.join('\n')}` : ''),
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
}

/** A helm duration ("30m", "1h30m", "90s", "500ms") in milliseconds. */
export function parseHelmDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    const n = Number(m[1]);
    total += n * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[m[2] as 'h' | 'm' | 's' | 'ms'];
    consumed += m[0].length;
  }
  if (!text || consumed !== text.length)
    throw new Error(`timeout ${JSON.stringify(text)} is not a duration like 30m or 90s`);
  return total;
}
