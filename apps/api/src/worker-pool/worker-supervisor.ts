import { ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as readline from 'node:readline';

import {
  type DoneEvent,
  encodeMessage,
  type GenerateRequest,
  type HeartbeatEvent,
  type PreviewEvent,
  parseWorkerEvent,
  type ReadyEvent,
  type WorkerErrorCode,
  WORKER_EXIT_PERMANENT,
  type WorkerRequest,
} from '@t2v/contracts';

import { appLogger, type Log, type LogLevel } from '../logging/logger';

export const WORKER_STATES = ['STARTING', 'READY', 'BUSY', 'FAILED', 'STOPPED'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

const WORKER_LEVELS: Record<string, LogLevel> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  WARN: 'warn',
  ERROR: 'error',
  CRITICAL: 'error',
};

export interface WorkerSpec {
  id: string;
  /** Device label for metrics: `cpu` or `cuda:N`. */
  device: string;
  command: string[];
  env: Record<string, string>;
  cwd?: string;
  startupTimeoutMs: number;
  heartbeatTimeoutMs: number;
  /** A job with no progress event for this long means a hung worker (heartbeats may still flow). */
  stallTimeoutMs?: number;
  /** A job running longer than this is stopped (the worker is restarted); 0 or absent: no limit. */
  jobTimeoutMs?: number;
  /** Restart backoff: base delay, doubled per consecutive failure, capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export type RunOutcome =
  | { kind: 'done'; event: DoneEvent }
  | { kind: 'error'; code: WorkerErrorCode; message: string }
  | { kind: 'crashed'; reason: string }
  /** The run outlasted `jobTimeoutMs`: its worker was killed (and restarts). */
  | { kind: 'timeout'; reason: string };

interface ActiveRun {
  jobId: string;
  onProgress: (step: number, total: number) => void;
  onPreview: ((event: PreviewEvent) => void) | undefined;
  resolve: (outcome: RunOutcome) => void;
}

/**
 * Owns one worker process: spawns it, reads its events, watches its heartbeat and restarts it
 * with backoff. Exposes an explicit state machine that health checks and metrics read:
 * STARTING → READY ⇄ BUSY, any → FAILED (then STARTING again after backoff), → STOPPED on shutdown.
 * A load failure the worker calls permanent (exit status WORKER_EXIT_PERMANENT) or a command that
 * cannot be spawned at all stays FAILED: restarting would fail the same way (docs/adr/0014).
 */
export class WorkerSupervisor extends EventEmitter {
  private readonly logger: Log;
  /** The logger of the job running now (its lines carry `job_id`), else the worker's. */
  private runLog: Log | null = null;
  /** The level of the worker's last log line that named one (a traceback's lines follow it). */
  private stderrLevel: LogLevel = 'info';
  private child: ChildProcess | null = null;
  private _state: WorkerState = 'STOPPED';
  private run: ActiveRun | null = null;
  private stopping = false;
  private consecutiveFailures = 0;
  private startupTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private jobTimer: NodeJS.Timeout | null = null;
  /** The job whose run was stopped for outlasting the job timeout, until its worker's exit. */
  private timedOut: string | null = null;
  private killReason: string | null = null;
  private stderrTail: string[] = [];
  /** The worker's own last word on why it cannot serve (error with job_id null). */
  private workerError: string | null = null;

  /** Why the worker is not READY, for /readyz. */
  lastError: string | null = null;
  /** True once a failure was classified permanent: no restart is scheduled. */
  permanent = false;
  private lastLoggedFailure: string | null = null;
  restarts = 0;
  ready: ReadyEvent | null = null;
  heartbeat: HeartbeatEvent | null = null;

  constructor(readonly spec: WorkerSpec) {
    super();
    this.logger = appLogger('worker').child({ worker: spec.id });
  }

  get state(): WorkerState {
    return this._state;
  }

  get busyJobId(): string | null {
    return this.run?.jobId ?? null;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  start(): void {
    this.stopping = false;
    this.permanent = false;
    this.spawnChild();
  }

  /**
   * Sends the job to the worker. Resolves once with the outcome; never rejects. The worker is
   * BUSY from this call on; `prepare` (staging the job's input) runs before the job is sent, and
   * its failure is the job's STORAGE_ERROR.
   */
  runJob(
    request: GenerateRequest,
    onProgress: (step: number, total: number) => void,
    onPreview?: (event: PreviewEvent) => void,
    prepare?: () => Promise<void>,
  ): Promise<RunOutcome> {
    if (this._state !== 'READY' || !this.child) {
      return Promise.resolve({ kind: 'crashed', reason: `worker ${this.spec.id} is ${this._state}` });
    }
    return new Promise((resolve) => {
      this.run = { jobId: request.job_id, onProgress, onPreview, resolve };
      this.runLog = this.logger.child({ job_id: request.job_id });
      this.setState('BUSY');
      const go = () => {
        // Ended while preparing (the worker died, the pool stopped): nothing to send.
        if (this.run?.jobId !== request.job_id) return;
        this.armStallTimer();
        const limit = this.spec.jobTimeoutMs;
        if (limit) {
          this.jobTimer = setTimeout(() => {
            this.timedOut = request.job_id;
            this.kill(`job ${request.job_id} ran longer than ${limit / 1000}s (T2V_JOB_TIMEOUT_S)`);
          }, limit);
        }
        this.send(request);
      };
      if (!prepare) return go();
      prepare().then(go, (err: Error) =>
        this.finishRun(request.job_id, {
          kind: 'error',
          code: 'STORAGE_ERROR',
          message: `the input image could not be fetched: ${err.message}`,
        }),
      );
    });
  }

  cancel(jobId: string): void {
    if (this.run?.jobId === jobId) this.send({ type: 'cancel', job_id: jobId });
  }

  /** Asks the worker to exit after its current job; kills it after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.setState('STOPPED');
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.send({ type: 'shutdown' });
    const timer = setTimeout(() => this.kill('shutdown grace period over'), graceMs);
    await exited;
    clearTimeout(timer);
    this.setState('STOPPED');
  }

  private spawnChild(): void {
    this.restartTimer = null;
    const [cmd, ...args] = this.spec.command;
    this.setState('STARTING');
    this.ready = null;
    this.killReason = null;
    this.workerError = null;
    this.stderrTail = [];
    let child: ChildProcess;
    try {
      child = spawn(cmd!, args, {
        env: this.spec.env,
        cwd: this.spec.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (err) {
      this.onExit(null, null, `spawn failed: ${(err as Error).message}`, isPermanentSpawnError(err));
      return;
    }
    this.child = child;
    child.on('error', (err) => {
      // ENOENT and friends: 'exit' may never come, so finish here.
      if (this.child === child) {
        this.child = null;
        this.onExit(null, null, `spawn failed: ${err.message}`, isPermanentSpawnError(err));
      }
    });
    child.stdin!.on('error', () => undefined);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      this.relay(line);
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = null;
      this.onExit(code, signal, null);
    });
    this.startupTimer = setTimeout(
      () => this.kill(`no ready message within ${this.spec.startupTimeoutMs / 1000}s`),
      this.spec.startupTimeoutMs,
    );
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    const parsed = parseWorkerEvent(line);
    if (!parsed.ok) {
      this.kill(`protocol violation (${parsed.error}): ${line.slice(0, 200)}`);
      return;
    }
    const event = parsed.value;
    switch (event.type) {
      case 'ready':
        if (this.startupTimer) clearTimeout(this.startupTimer);
        this.startupTimer = null;
        this.ready = event;
        this.lastError = null;
        this.consecutiveFailures = 0;
        this.logger.info(
          `ready: ${event.card.id} (${event.card.engine}) on ${event.device} (load ${event.load_s}s)`,
        );
        this.setState('READY');
        break;
      case 'heartbeat':
        this.heartbeat = event;
        this.emit('heartbeat', event);
        break;
      case 'progress':
        if (this.run?.jobId === event.job_id) {
          this.armStallTimer();
          this.run.onProgress(event.step, event.total);
        }
        break;
      case 'preview':
        if (this.run?.jobId === event.job_id) this.run.onPreview?.(event);
        break;
      case 'done':
        this.finishRun(event.job_id, { kind: 'done', event });
        break;
      case 'error':
        if (event.job_id === null) {
          // Reported once, with the exit that follows it (onExit).
          this.workerError = `${event.code}: ${event.message}`;
        } else {
          this.finishRun(event.job_id, { kind: 'error', code: event.code, message: event.message });
        }
        break;
    }
    this.armSilenceTimer();
  }

  private finishRun(jobId: string, outcome: RunOutcome): void {
    if (this.run?.jobId !== jobId) return;
    const run = this.run;
    this.run = null;
    this.runLog = null;
    for (const t of [this.stallTimer, this.jobTimer]) if (t) clearTimeout(t);
    this.stallTimer = this.jobTimer = null;
    if (this._state === 'BUSY') this.setState('READY');
    run.resolve(outcome);
  }

  private armStallTimer(): void {
    if (this.stallTimer) clearTimeout(this.stallTimer);
    const ms = this.spec.stallTimeoutMs;
    if (!ms) return;
    this.stallTimer = setTimeout(
      () => this.kill(`job ${this.run?.jobId} made no progress for ${ms / 1000}s`),
      ms,
    );
  }

  private armSilenceTimer(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    // Until ready, the startup timeout governs (model loads can take minutes without output).
    if (!this.ready) return;
    this.silenceTimer = setTimeout(
      () => this.kill(`silent for ${this.spec.heartbeatTimeoutMs / 1000}s (no heartbeat)`),
      this.spec.heartbeatTimeoutMs,
    );
  }

  private kill(reason: string): void {
    const child = this.child;
    if (!child?.pid) return;
    this.killReason ??= reason;
    (this.runLog ?? this.logger).warn(`killing worker pid ${child.pid}: ${reason}`);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  private onExit(
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError: string | null,
    spawnPermanent = false,
  ): void {
    this.clearTimers();
    const how = spawnError ?? this.killReason ?? `exited (code ${code}, signal ${signal})`;
    const wasReady = this.ready !== null;
    const tail = this.workerError ?? this.stderrTail.slice(-3).join(' | ');
    // After ready, a worker that says why it exits (a CUDA context it cannot use any more) is
    // quoted; otherwise the exit alone.
    const reason = wasReady
      ? `${how}${this.workerError ? `: ${this.workerError}` : ''}`
      : `${how} before ready${tail ? `: ${tail}` : ''}`;
    const permanent =
      spawnPermanent || (!wasReady && this.killReason === null && code === WORKER_EXIT_PERMANENT);
    const run = this.run;
    const log = this.runLog ?? this.logger;
    this.run = null;
    this.runLog = null;
    const timedOut = run !== null && this.timedOut === run.jobId;
    this.timedOut = null;
    // The run ends as timed out; its promise ignores the crash it is also reported as below.
    if (timedOut) run.resolve({ kind: 'timeout', reason: how });
    if (this.stopping) {
      this.setState('STOPPED');
      run?.resolve({ kind: 'crashed', reason: 'worker stopped' });
      return;
    }
    if (permanent) {
      this.permanent = true;
      this.lastError = `${reason} (permanent: not retried; fix it and restart the API)`;
      log.error(`worker cannot start and will not be restarted: ${reason}`);
      this.setState('FAILED');
      run?.resolve({ kind: 'crashed', reason });
      this.emit('permanent-failure', this.lastError);
      return;
    }
    this.lastError = reason;
    this.consecutiveFailures += 1;
    const base = this.spec.backoffBaseMs ?? 500;
    const delay = Math.min(this.spec.backoffMaxMs ?? 30_000, base * 2 ** (this.consecutiveFailures - 1));
    // A transient failure that repeats word for word is logged in full once, then briefly.
    const repeat = !wasReady && reason === this.lastLoggedFailure;
    if (repeat) {
      log.warn(
        `worker still failing to load (attempt ${this.consecutiveFailures}), retrying in ${delay / 1000}s`,
      );
    } else {
      log.error(
        `worker exited: ${reason}${wasReady ? '' : `; retrying with backoff (next in ${delay / 1000}s)`}`,
      );
    }
    this.lastLoggedFailure = wasReady ? null : reason;
    this.setState('FAILED');
    run?.resolve({ kind: 'crashed', reason });
    this.restarts += 1;
    this.emit('restart');
    this.restartTimer = setTimeout(() => this.spawnChild(), delay);
  }

  /**
   * One line the worker wrote to stderr, as a log line of ours: at the level the worker gave it
   * (`… INFO|WARNING|ERROR …`, as the Python worker's logging writes), and with the running job's
   * id, so a job's story reads in one place. Lines without a level (a traceback) keep the last one.
   */
  private relay(line: string): void {
    const m = /\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b/.exec(line.slice(0, 80));
    if (m) this.stderrLevel = WORKER_LEVELS[m[1]!]!;
    (this.runLog ?? this.logger)[this.stderrLevel]({ stream: 'stderr' }, line);
  }

  private send(message: WorkerRequest): void {
    const stdin = this.child?.stdin;
    if (stdin?.writable) stdin.write(encodeMessage(message));
  }

  private setState(state: WorkerState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state);
  }

  private clearTimers(): void {
    for (const t of [this.startupTimer, this.silenceTimer, this.restartTimer, this.stallTimer, this.jobTimer])
      if (t) clearTimeout(t);
    this.startupTimer = this.silenceTimer = this.restartTimer = this.stallTimer = this.jobTimer = null;
  }
}

/** A command that is not there or not executable: the same on every retry. */
function isPermanentSpawnError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR';
}
