import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { execFileRunner, RunResult, Runner } from '../helm.driver';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
/** The project's podman settings (runc, lowered ulimits), instead of the machine's. */
export const CONTAINERS_CONF = path.join(REPO_ROOT, 'tools/helm/image/containers.conf');

/** A podman command that exited non-zero (or could not start). */
export class PodmanError extends Error {
  override readonly name = 'PodmanError';

  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string,
    readonly args: readonly string[],
  ) {
    super(message);
  }
}

export interface PodmanOptions {
  /** `podman` on PATH unless given. */
  binary?: string;
  runner?: Runner;
  /** a separate image store (`--root`, `--runroot`), e.g. to pull into an empty one. */
  storage?: { root: string; runroot: string };
  /** kill a command after this long (builds pass their own). */
  timeoutMs?: number;
}

export interface BuildOptions {
  file: string;
  context: string;
  /** the stage to build; the last one when not given. */
  target?: string;
  tag: string;
  ignoreFile?: string;
  buildArgs?: Record<string, string>;
  /** `RUN` steps reach the network through the host's (apt-get, npm, pip). */
  networkHost?: boolean;
  /** independent stages built at once. */
  jobs?: number;
  /** `host:container[:options]` bind mounts for the RUN steps (never part of a layer). */
  volumes?: readonly string[];
}

/** `podman image inspect`: the fields this project reads. */
export interface ImageInfo {
  Id: string;
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Size: number;
  Config: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, unknown>;
    Volumes?: Record<string, unknown>;
  };
}

/** `podman container inspect`: the fields this project reads. */
export interface ContainerInfo {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; Pid: number };
  NetworkSettings: { IPAddress?: string; Networks?: Record<string, { IPAddress: string }> };
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean }[];
}

/**
 * podman through `execFile` (argument arrays, no shell), with the project's containers.conf.
 * Long builds stream their output; everything else is captured and returned.
 */
export class Podman {
  private readonly binary: string;
  private readonly runner: Runner;

  constructor(private readonly options: PodmanOptions = {}) {
    this.binary = options.binary ?? 'podman';
    this.runner = options.runner ?? execFileRunner;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, CONTAINERS_CONF };
  }

  private globalArgs(): string[] {
    const s = this.options.storage;
    return s ? [`--root=${s.root}`, `--runroot=${s.runroot}`] : [];
  }

  /** Runs podman; the result whatever the exit code. */
  async attempt(args: readonly string[], timeoutMs = this.options.timeoutMs): Promise<RunResult> {
    return this.runner(this.binary, [...this.globalArgs(), ...args], {
      cwd: REPO_ROOT,
      env: this.env,
      timeoutMs,
    });
  }

  /** Runs podman; its stdout, or a PodmanError naming the command and what podman said. */
  async run(args: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.attempt(args, timeoutMs);
    if (r.exitCode !== 0) {
      const reason = r.spawnError?.message ?? (r.stderr.trim() || `exit ${r.exitCode ?? r.signal}`);
      throw new PodmanError(
        `podman ${args.slice(0, 2).join(' ')} failed: ${reason}`,
        r.exitCode,
        r.stderr,
        r.stdout,
        args,
      );
    }
    return r.stdout;
  }

  /** Runs podman with its output on this process's stderr (builds take minutes). */
  stream(args: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, [...this.globalArgs(), ...args], {
        cwd: REPO_ROOT,
        env: this.env,
        stdio: ['ignore', process.stderr, process.stderr],
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0
          ? resolve()
          : reject(new PodmanError(`podman ${args[0]} failed (exit ${code ?? signal})`, code, '', '', args)),
      );
    });
  }

  async imageExists(ref: string): Promise<boolean> {
    return (await this.attempt(['image', 'exists', ref])).exitCode === 0;
  }

  /** Pulls `ref`; false when it cannot be pulled (no registry reachable, unknown name). */
  async pull(ref: string): Promise<boolean> {
    return (await this.attempt(['pull', '--quiet', ref], 10 * 60_000)).exitCode === 0;
  }

  async imageInspect(ref: string): Promise<ImageInfo> {
    const [info] = JSON.parse(await this.run(['image', 'inspect', ref])) as ImageInfo[];
    if (!info) throw new PodmanError(`no image ${ref}`, 0, '', '', ['image', 'inspect', ref]);
    return info;
  }

  async build(opts: BuildOptions): Promise<void> {
    // docker format: OCI image configs have no HEALTHCHECK
    const args = ['build', `--file=${opts.file}`, `--tag=${opts.tag}`, '--layers', '--format=docker'];
    if (opts.target) args.push(`--target=${opts.target}`);
    if (opts.ignoreFile) args.push(`--ignorefile=${opts.ignoreFile}`);
    if (opts.networkHost) args.push('--network=host');
    if (opts.jobs) args.push(`--jobs=${opts.jobs}`);
    for (const v of opts.volumes ?? []) args.push(`--volume=${v}`);
    for (const [k, v] of Object.entries(opts.buildArgs ?? {})) args.push(`--build-arg=${k}=${v}`);
    args.push(opts.context);
    await this.stream(args);
  }

  /** Turns a root filesystem tarball into an image. */
  async importTar(tar: string, ref: string, changes: readonly string[] = []): Promise<void> {
    await this.run(['import', ...changes.map((c) => `--change=${c}`), tar, ref], 10 * 60_000);
  }

  async tag(ref: string, ...names: string[]): Promise<void> {
    await this.run(['tag', ref, ...names]);
  }

  /** Pushes `ref` to `destination` (default: its own name); returns the manifest digest. */
  async push(ref: string, opts: { tlsVerify?: boolean; destination?: string } = {}): Promise<string> {
    const dir = mkdtempSync(path.join(tmpdir(), 't2v-push-'));
    try {
      const digestFile = path.join(dir, 'digest');
      const args = ['push', '--quiet', `--digestfile=${digestFile}`];
      if (opts.tlsVerify === false) args.push('--tls-verify=false');
      args.push(ref);
      if (opts.destination) args.push(opts.destination);
      await this.run(args, 10 * 60_000);
      return readFileSync(digestFile, 'utf8').trim();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async removeImage(ref: string): Promise<void> {
    await this.attempt(['rmi', '--force', ref]);
  }

  async containerInspect(name: string): Promise<ContainerInfo> {
    const [info] = JSON.parse(await this.run(['container', 'inspect', name])) as ContainerInfo[];
    if (!info) throw new PodmanError(`no container ${name}`, 0, '', '', ['container', 'inspect', name]);
    return info;
  }

  /** Runs a command in a running container, as its own user; the result whatever the exit code. */
  exec(container: string, command: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    return this.attempt(['exec', container, ...command], timeoutMs);
  }

  async logs(container: string): Promise<string> {
    const r = await this.attempt(['logs', container]);
    return r.stdout + r.stderr;
  }
}
