import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { type WorkerEvent, type WorkerRequest, encodeMessage, parseWorkerEvent } from '@t2v/contracts';

/** Test-only driver for a worker process: send requests, collect parsed events, await exits. */
export class WorkerHarness {
  readonly events: WorkerEvent[] = [];
  /** stdout lines that did not parse as protocol events, with the reason. */
  readonly invalidLines: { line: string; error: string }[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcessWithoutNullStreams;
  private waiters: (() => void)[] = [];

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
    this.child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: 'pipe' });
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const parsed = parseWorkerEvent(line);
      if (parsed.ok) this.events.push(parsed.value);
      else this.invalidLines.push({ line, error: parsed.error });
      this.notify();
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    void this.exited.then(() => this.notify());
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(request: WorkerRequest): void {
    this.child.stdin.write(encodeMessage(request));
  }

  sendRaw(line: string): void {
    this.child.stdin.write(line.endsWith('\n') ? line : line + '\n');
  }

  closeStdin(): void {
    this.child.stdin.end();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Events other than heartbeats, which arrive at timer-dependent points. */
  get lifecycle(): WorkerEvent[] {
    return this.events.filter((e) => e.type !== 'heartbeat');
  }

  /** Resolves with the first event (from the start) matching `predicate`. */
  async waitFor<T extends WorkerEvent>(predicate: (e: WorkerEvent) => e is T, timeoutMs?: number): Promise<T>;
  async waitFor(predicate: (e: WorkerEvent) => boolean, timeoutMs?: number): Promise<WorkerEvent>;
  async waitFor(predicate: (e: WorkerEvent) => boolean, timeoutMs = 20000): Promise<WorkerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`worker exited before the awaited event; stderr:\n${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for an event; got ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the terminal event (done or error) of `jobId`. */
  waitForJob(jobId: string, timeoutMs?: number): Promise<WorkerEvent> {
    return this.waitFor((e) => (e.type === 'done' || e.type === 'error') && e.job_id === jobId, timeoutMs);
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
