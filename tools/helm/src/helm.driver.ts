import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

import { HelmError, HelmUsageError } from './helm.errors';

/** Result of one process run. */
export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** set when the process could not be started at all (ENOENT, EACCES). */
  spawnError?: Error;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Starts a program with an argument array. Injected in tests; never a shell. */
export type Runner = (file: string, args: readonly string[], options: RunOptions) => Promise<RunResult>;

/** The default runner: `execFile`, so every argument reaches helm unchanged, whatever it contains. */
export const execFileRunner: Runner = (file, args, options) =>
  new Promise((resolve) => {
    execFile(
      file,
      [...args],
      {
        cwd: options.cwd,
        env: options.env,
        timeout: options.timeoutMs ?? 0,
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'utf8',
        shell: false,
        windowsHide: true,
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ exitCode: 0, signal: null, stdout, stderr });
          return;
        }
        const e = error as NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals | null };
        if (typeof e.code === 'number') {
          resolve({ exitCode: e.code, signal: e.signal ?? null, stdout, stderr });
        } else if (e.signal) {
          resolve({ exitCode: null, signal: e.signal, stdout, stderr });
        } else {
          resolve({ exitCode: null, signal: null, stdout, stderr, spawnError: e });
        }
      },
    );
  });

/** A value for `--set-json`: anything JSON can carry. */
export type HelmValue = string | number | boolean | null | HelmValue[] | { [key: string]: HelmValue };

export interface ValuesOptions {
  /** values files, in order (later wins). */
  values?: readonly string[];
  /** `path.to.key` → value; passed as `--set-json` so commas, dots and quotes in values stay literal. */
  set?: Readonly<Record<string, HelmValue>>;
}

export interface TemplateOptions extends ValuesOptions {
  namespace?: string;
  /** Kubernetes version the chart is rendered for (`--kube-version`). */
  kubeVersion?: string;
  /** extra API versions reported as available (`--api-versions`), e.g. monitoring.coreos.com/v1. */
  apiVersions?: readonly string[];
  /** render only these templates (`--show-only`). */
  showOnly?: readonly string[];
  includeCrds?: boolean;
}

export interface LintOptions extends ValuesOptions {
  strict?: boolean;
  namespace?: string;
  kubeVersion?: string;
}

export interface UpgradeInstallOptions extends ValuesOptions {
  namespace?: string;
  createNamespace?: boolean;
  /** wait for the rollout (`--wait`), bounded by `timeout`. */
  wait?: boolean;
  /** roll back on failure (`--atomic`). */
  atomic?: boolean;
  /** helm duration, e.g. `20m` (model loads take minutes). */
  timeout?: string;
  /** chart version when the chart comes from a repository. */
  version?: string;
  dryRun?: boolean;
}

export interface UninstallOptions {
  namespace?: string;
  wait?: boolean;
  keepHistory?: boolean;
  timeout?: string;
}

export interface RollbackOptions {
  namespace?: string;
  wait?: boolean;
  timeout?: string;
}

export interface StatusOptions {
  namespace?: string;
  /** include the release's live objects, with their status (`--show-resources`). */
  showResources?: boolean;
}

/** `helm status -o json`: the fields this project reads. */
export interface HelmStatus {
  name: string;
  namespace: string;
  version: number;
  info: {
    status: string;
    description?: string;
    notes?: string;
    /** live objects by "<apiVersion>/<Kind>" (related pods as "v1/Pod(related)"), with --show-resources. */
    resources?: Record<string, HelmLiveObject[]>;
  };
}

/** A live object as the API server returns it; only what status checks read is typed. */
export interface HelmLiveObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    generation?: number;
    ownerReferences?: { kind: string; name: string }[];
    labels?: Record<string, string>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
}

export interface ListOptions {
  namespace?: string;
  allNamespaces?: boolean;
  /** Perl-compatible regular expression on release names (`--filter`). */
  filter?: string;
}

/** One row of `helm list -o json`. */
export interface HelmRelease {
  name: string;
  namespace: string;
  revision: string;
  updated: string;
  status: string;
  chart: string;
  app_version: string;
}

/** What a successful helm command printed; stderr lines are warnings, not failures. */
export interface HelmOutput {
  stdout: string;
  warnings: string[];
}

export interface HelmDriverOptions {
  /** helm binary; defaults to `<repo>/.tools/bin/helm` when installed there, else `helm` on PATH. */
  binary?: string;
  kubeconfig?: string;
  kubeContext?: string;
  /** environment of the helm process (defaults to this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** kill helm after this long; `wait` operations pass their own helm `--timeout` too. */
  processTimeoutMs?: number;
  runner?: Runner;
}

const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SET_KEY = /^[A-Za-z0-9_./\\[\]-]+$/;
const REPO_ROOT = path.resolve(__dirname, '../../..');

/** The helm installed by tools/helm/install-helm.sh, when present. */
export function defaultHelmBinary(): string {
  const pinned = path.join(REPO_ROOT, '.tools/bin/helm');
  return existsSync(pinned) ? pinned : 'helm';
}

/**
 * A typed helm driver. Every option becomes one `--flag=value` argument of an argument
 * array handed to `execFile`: values never pass through a shell, and a value that starts
 * with `-` cannot turn into another flag.
 */
export class HelmDriver {
  private readonly binary: string;
  private readonly runner: Runner;

  constructor(private readonly options: HelmDriverOptions = {}) {
    this.binary = options.binary ?? defaultHelmBinary();
    this.runner = options.runner ?? execFileRunner;
  }

  async version(): Promise<string> {
    const out = await this.run(['version', '--template={{.Version}}']);
    return out.stdout.trim();
  }

  async lint(chart: string, opts: LintOptions = {}): Promise<HelmOutput> {
    const args = ['lint'];
    if (opts.strict) args.push('--strict');
    if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
    if (opts.kubeVersion) args.push(`--kube-version=${opts.kubeVersion}`);
    args.push(...valuesArgs(opts), '--', checkChart(chart));
    return this.run(args, { global: false });
  }

  /** Renders the chart; returns the multi-document YAML. */
  async template(release: string, chart: string, opts: TemplateOptions = {}): Promise<HelmOutput> {
    const args = ['template'];
    if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
    if (opts.kubeVersion) args.push(`--kube-version=${opts.kubeVersion}`);
    for (const v of opts.apiVersions ?? []) args.push(`--api-versions=${v}`);
    for (const s of opts.showOnly ?? []) args.push(`--show-only=${s}`);
    if (opts.includeCrds) args.push('--include-crds');
    args.push(...valuesArgs(opts), '--', checkRelease(release), checkChart(chart));
    return this.run(args, { global: false });
  }

  async upgradeInstall(
    release: string,
    chart: string,
    opts: UpgradeInstallOptions = {},
  ): Promise<HelmOutput> {
    const args = ['upgrade', '--install'];
    if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
    if (opts.createNamespace) args.push('--create-namespace');
    if (opts.wait) args.push('--wait');
    if (opts.atomic) args.push('--atomic');
    if (opts.timeout) args.push(`--timeout=${opts.timeout}`);
    if (opts.version) args.push(`--version=${opts.version}`);
    if (opts.dryRun) args.push('--dry-run=server');
    args.push(...valuesArgs(opts), '--', checkRelease(release), checkChart(chart));
    return this.run(args);
  }

  async uninstall(release: string, opts: UninstallOptions = {}): Promise<HelmOutput> {
    const args = ['uninstall'];
    if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
    if (opts.wait) args.push('--wait');
    if (opts.keepHistory) args.push('--keep-history');
    if (opts.timeout) args.push(`--timeout=${opts.timeout}`);
    args.push('--', checkRelease(release));
    return this.run(args);
  }

  /** Rolls `release` back to `revision` (0: the previous one). */
  async rollback(release: string, revision: number, opts: RollbackOptions = {}): Promise<HelmOutput> {
    if (!Number.isInteger(revision) || revision < 0) {
      throw new HelmUsageError(`rollback: revision ${revision} is not a revision number`);
    }
    const args = ['rollback'];
    if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
    if (opts.wait) args.push('--wait');
    if (opts.timeout) args.push(`--timeout=${opts.timeout}`);
    args.push('--', checkRelease(release), String(revision));
    return this.run(args);
  }

  async status(release: string, opts: StatusOptions = {}): Promise<HelmStatus> {
    const args = ['status', '--output=json'];
    if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
    if (opts.showResources) args.push('--show-resources');
    args.push('--', checkRelease(release));
    const out = await this.run(args);
    return JSON.parse(out.stdout) as HelmStatus;
  }

  async list(opts: ListOptions = {}): Promise<HelmRelease[]> {
    const args = ['list', '--output=json'];
    if (opts.allNamespaces) args.push('--all-namespaces');
    else if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
    if (opts.filter !== undefined) args.push(`--filter=${opts.filter}`);
    const out = await this.run(args);
    const text = out.stdout.trim();
    return text ? (JSON.parse(text) as HelmRelease[]) : [];
  }

  /** Runs helm with `args` (plus the connection flags); throws HelmError on a non-zero exit. */
  async run(args: readonly string[], { global = true }: { global?: boolean } = {}): Promise<HelmOutput> {
    const full = [...(global ? this.connectionArgs() : []), ...args];
    const r = await this.runner(this.binary, full, {
      cwd: this.options.cwd,
      env: this.options.env ?? process.env,
      timeoutMs: this.options.processTimeoutMs,
    });
    if (r.spawnError) {
      throw new HelmError(
        `could not start ${this.binary}: ${r.spawnError.message}`,
        null,
        r.stderr,
        r.stdout,
        full,
      );
    }
    if (r.exitCode !== 0) {
      const reason = errorText(r.stderr) || (r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`);
      throw new HelmError(
        `helm ${args[0] ?? ''} failed: ${reason}`,
        r.exitCode,
        r.stderr,
        r.stdout,
        full,
        r.signal,
      );
    }
    return { stdout: r.stdout, warnings: splitLines(r.stderr) };
  }

  private connectionArgs(): string[] {
    const args: string[] = [];
    if (this.options.kubeconfig) args.push(`--kubeconfig=${this.options.kubeconfig}`);
    if (this.options.kubeContext) args.push(`--kube-context=${this.options.kubeContext}`);
    return args;
  }
}

function valuesArgs(opts: ValuesOptions): string[] {
  const args: string[] = [];
  for (const f of opts.values ?? []) args.push(`--values=${f}`);
  for (const [key, value] of Object.entries(opts.set ?? {})) {
    if (!SET_KEY.test(key)) throw new HelmUsageError(`set: key ${JSON.stringify(key)} is not a values path`);
    args.push(`--set-json=${key}=${JSON.stringify(value)}`);
  }
  return args;
}

function checkRelease(name: string): string {
  if (name.length > 53 || !RELEASE_NAME.test(name)) {
    throw new HelmUsageError(`release name ${JSON.stringify(name)} is not a valid helm release name`);
  }
  return name;
}

function checkChart(chart: string): string {
  if (!chart || chart.startsWith('-'))
    throw new HelmUsageError(`chart ${JSON.stringify(chart)} is not a chart reference`);
  return chart;
}

function splitLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
}

/** helm prints warnings first and its error last, from a line starting with `Error:`. */
function errorText(stderr: string): string {
  const lines = splitLines(stderr);
  const start = lines.findIndex((l) => l.startsWith('Error:'));
  return (start >= 0 ? lines.slice(start) : lines.slice(-1)).join('\n').replace(/^Error: /, '');
}
