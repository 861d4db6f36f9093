import { hostname } from 'node:os';

import type { ModelCard } from '@t2v/contracts';

import type { WorkerState } from '../worker-pool/worker-supervisor';

/** This process in every report: host name (the pod's name) and pid. */
export const THIS_PROCESS = `${hostname()}:${process.pid}`;

/** The jobs that live reports say a worker runs now. */
export function jobsRunning(reports: ProcessReport[]): Set<string> {
  return new Set(reports.flatMap((r) => r.workers.flatMap((w) => (w.job ? [w.job] : []))));
}

/** Which part of the app a process runs (`T2V_ROLE`): both, the API tier or the GPU tier. */
export type Role = 'all' | 'api' | 'gpu';

/** One supervised worker of a process, as that process last reported it. */
export interface WorkerReport {
  id: string;
  /** `cpu` or `cuda:<indices>`. */
  device: string;
  state: WorkerState;
  /** Failed in a way no restart heals (ADR 0014): it will not take jobs until the process is fixed. */
  permanent: boolean;
  /** Why it is not READY, when it is not. */
  reason: string | null;
  /** The job it runs now: another process must not take that job over while this report lives. */
  job: string | null;
}

/** What one process with workers (a GPU pod, or a replica with both roles) says about them. */
export interface ProcessReport {
  /** Unique per process: host name (the pod's name) and pid. */
  process: string;
  role: Role;
  /** Draining after SIGTERM: its workers take no new job (a scale-in or a rollout). */
  draining: boolean;
  /** Unix ms the process started (its workers' cold start is measured from here). */
  startedAt: number;
  /** Unix ms of this report; reports older than the registry's time to live are not counted. */
  seenAt: number;
  workers: WorkerReport[];
}

/** A model card as a worker published it. */
export interface PublishedCard {
  card: ModelCard;
  /** Unix ms. */
  publishedAt: number;
  /** `<process>/<worker id>`. */
  publishedBy: string;
}

/**
 * The GPU workers of every process sharing the queue, and the model card they serve, kept where
 * every process can read them (the shared store with the redis driver, this process with the
 * embedded one). The API tier reads it to say why a job waits, to refuse creates that nothing can
 * run, and to serve the card while no GPU pod runs; GPU processes write it. Reports expire by
 * `seenAt`, so a process that vanished (SIGKILL, node lost) stops counting within the time to live.
 */
export interface GpuRegistry {
  /** How long a report counts after it was made, in ms. */
  readonly ttlMs: number;
  /**
   * Replaces this process' report (sent every few seconds and on each worker state change); with
   * `changed` (a worker changed state, or the process began draining) every process hears of it.
   */
  report(report: ProcessReport, changed: boolean): Promise<void>;
  /** Removes this process' report (it stops); every process hears of it. */
  withdraw(process: string): Promise<void>;
  /** Calls `listener` when a process' workers changed (a report with `changed`, a withdrawal). */
  onChange(listener: () => void): void;
  /** Every report made within the time to live before `now`. */
  reports(now: number): Promise<ProcessReport[]>;
  /** Publishes the card a worker became ready with: stored, and announced to every process. */
  publishCard(card: PublishedCard): Promise<void>;
  /** The last card published, or null when no worker has published one yet. */
  lastCard(): Promise<PublishedCard | null>;
  /** Calls `listener` with every card published (by this process or another). */
  onCard(listener: (card: PublishedCard) => void): void;
}

/** The registry of one process (the embedded driver): nothing is shared, nothing is stored. */
export class LocalGpuRegistry implements GpuRegistry {
  readonly ttlMs = 15_000;
  private readonly processes = new Map<string, ProcessReport>();
  private card: PublishedCard | null = null;
  private readonly listeners: Array<(card: PublishedCard) => void> = [];
  private readonly changeListeners: Array<() => void> = [];

  async report(report: ProcessReport, changed: boolean): Promise<void> {
    this.processes.set(report.process, report);
    if (changed) for (const l of this.changeListeners) l();
  }

  async withdraw(process: string): Promise<void> {
    this.processes.delete(process);
    for (const l of this.changeListeners) l();
  }

  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  async reports(now: number): Promise<ProcessReport[]> {
    return [...this.processes.values()].filter((r) => now - r.seenAt <= this.ttlMs);
  }

  async publishCard(card: PublishedCard): Promise<void> {
    this.card = card;
    for (const l of this.listeners) l(card);
  }

  async lastCard(): Promise<PublishedCard | null> {
    return this.card;
  }

  onCard(listener: (card: PublishedCard) => void): void {
    this.listeners.push(listener);
  }
}
