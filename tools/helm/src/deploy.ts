/**
 * Deploys the chart to one environment: lint with the environment's values, then
 * `helm upgrade --install --wait --atomic`, then print the release.
 * Usage: node -r @swc-node/register tools/helm/src/deploy.ts <dev|staging|prod> [--namespace=t2v] [--release=t2v]
 *        [--values=extra.yaml ...] [--timeout=30m] [--kube-context=ctx]
 */
import path from 'node:path';

import { HelmDriver, HelmRelease } from './helm.driver';

export const ENVIRONMENTS = ['dev', 'staging', 'prod'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export interface DeployOptions {
  environment: Environment;
  chartDir: string;
  release?: string;
  namespace?: string;
  extraValues?: string[];
  timeout?: string;
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
  await helm.lint(opts.chartDir, { strict: true, namespace, values });
  await helm.upgradeInstall(release, opts.chartDir, {
    namespace,
    createNamespace: true,
    values,
    wait: true,
    atomic: true,
    // a cold model load from NFS takes minutes
    timeout: opts.timeout ?? '30m',
  });
  const releases = await helm.list({ namespace, filter: `^${release.replace(/\./g, '\\.')}$` });
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
