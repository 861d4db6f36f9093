/**
 * Deploys the chart to one environment: lint with the environment's values, then
 * `helm upgrade --install --wait --atomic`, then check the rollout itself (helm's --wait accepts
 * a one-replica Deployment with no pod ready) and roll back as --atomic would when it does not
 * finish in time, then print the release.
 * Usage: node -r @swc-node/register tools/helm/src/deploy.ts <dev|staging|prod> [--namespace=t2v] [--release=t2v]
 *        [--values=extra.yaml ...] [--timeout=30m] [--kube-context=ctx]
 */
import path from 'node:path';

import { HelmDriver, HelmRelease } from './helm.driver';
import { RolloutError, parseHelmDuration, waitForRollout } from './rollout';

export const ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export interface DeployOptions {
  environment: Environment;
  chartDir: string;
  release?: string;
  namespace?: string;
  extraValues?: string[];
  timeout?: string;
  /** how often the rollout check polls the release (ms). */
  pollMs?: number;
}

/** Default namespace per environment, as in docs/deploy.md. */
const NAMESPACES: Record<Environment, string> = { dev: 't2v-dev', staging: 't2v-staging', prod: 't2v' };

export async function deploy(helm: HelmDriver, opts: DeployOptions): Promise<HelmRelease | undefined> {
  const release = opts.release ?? 't2v';
  const namespace = opts.namespace ?? NAMESPACES[opts.environment];
  const values = [
    path.join(opts.chartDir, 'environments', `${opts.environment}.yaml`),
    ...(opts.extraValues ?? []),
  ];
  // a cold model load from NFS takes minutes
  const timeout = opts.timeout ?? '30m';
  const deadline = Date.now() + parseHelmDuration(timeout);
  const filter = `^${release.replace(/\./g, '\\.')}$`;
  await helm.lint(opts.chartDir, { strict: true, namespace, values });
  const before = (await helm.list({ namespace, filter }))[0];
  await helm.upgradeInstall(release, opts.chartDir, {
    namespace,
    createNamespace: true,
    values,
    wait: true,
    atomic: true,
    timeout,
  });
  try {
    await waitForRollout(helm, release, namespace, deadline, opts.pollMs);
  } catch (error) {
    if (!(error instanceof RolloutError)) throw error;
    // What --atomic does when its own wait fails: back to the previous revision, or nothing.
    const undo = before
      ? helm
          .rollback(release, Number(before.revision), { namespace, wait: true, timeout: '5m' })
          .then(() => `rolled back to revision ${before.revision}`)
      : helm.uninstall(release, { namespace, wait: true }).then(() => 'uninstalled the failed release');
    const outcome = await undo.catch(
      (e: unknown) => `could not undo it: ${e instanceof Error ? e.message : String(e)}`,
    );
    throw new RolloutError(`${error.message}\n${outcome}`);
  }
  const releases = await helm.list({ namespace, filter });
  return releases[0];
}

function parseArgs(argv: string[]): DeployOptions & { kubeContext?: string } {
  const env = argv.find((a) => !a.startsWith('--'));
  if (!env || !(ENVIRONMENTS as readonly string[]).includes(env)) {
    throw new Error(
      `usage: deploy.ts <${ENVIRONMENTS.join('|')}> [--namespace=] [--release=] [--values=] [--timeout=]`,
    );
  }
  const flag = (name: string): string | undefined =>
    argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  return {
    environment: env as Environment,
    chartDir: path.resolve(__dirname, '../../../charts/t2v'),
    release: flag('release'),
    namespace: flag('namespace'),
    timeout: flag('timeout'),
    kubeContext: flag('kube-context'),
    extraValues: argv.filter((a) => a.startsWith('--values=')).map((a) => a.slice('--values='.length)),
  };
}

if (require.main === module) {
  Promise.resolve()
    .then(async () => {
      const opts = parseArgs(process.argv.slice(2));
      const helm = new HelmDriver({ kubeContext: opts.kubeContext });
      const rel = await deploy(helm, opts);
      process.stdout.write(
        `${rel ? `${rel.name} in ${rel.namespace}: ${rel.status}, revision ${rel.revision}` : 'release not found'}\n`,
      );
    })
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    });
}
