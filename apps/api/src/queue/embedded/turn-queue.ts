import { ANONYMOUS } from '../../jobs/fair-queue';
import type { Job } from '../../jobs/job.types';

/** A queued job as the embedded store orders it. */
export interface QueuedEntry {
  id: string;
  turn: number;
  caller: string;
}

/** The queue order: by turn, ties by job id (ids sort by creation time), as in the redis store. */
function before(a: QueuedEntry, b: QueuedEntry): boolean {
  return a.turn < b.turn || (a.turn === b.turn && a.id < b.id);
}

/** A job's place in line (records written before fair turns have none: they go first). */
export function entryOf(job: Pick<Job, 'id' | 'turn' | 'caller'>): QueuedEntry {
  return { id: job.id, turn: job.turn ?? 0, caller: job.caller ?? ANONYMOUS };
}

/**
 * The queued jobs in turn order, kept in memory by the embedded store (it is the only writer of
 * its file): positions and counts in O(log n), and the queued count of each caller.
 */
export class TurnQueue {
  private readonly entries: QueuedEntry[] = [];
  private readonly byId = new Map<string, QueuedEntry>();
  private readonly perCaller = new Map<string, number>();

  get size(): number {
    return this.entries.length;
  }

  /** Index of the first entry not before `e`. */
  private lowerBound(e: QueuedEntry): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.entries[mid]!, e)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(e: QueuedEntry): void {
    if (this.byId.has(e.id)) return;
    this.entries.splice(this.lowerBound(e), 0, e);
    this.byId.set(e.id, e);
    this.perCaller.set(e.caller, (this.perCaller.get(e.caller) ?? 0) + 1);
  }

  remove(id: string): void {
    const e = this.byId.get(id);
    if (!e) return;
    this.entries.splice(this.lowerBound(e), 1);
    this.byId.delete(id);
    const n = (this.perCaller.get(e.caller) ?? 1) - 1;
    if (n > 0) this.perCaller.set(e.caller, n);
    else this.perCaller.delete(e.caller);
  }

  /** 1-based position of the job, or null when it is not queued. */
  rank(id: string): number | null {
    const e = this.byId.get(id);
    return e ? this.lowerBound(e) + 1 : null;
  }

  /** Queued jobs of one caller. */
  countOf(caller: string): number {
    return this.perCaller.get(caller) ?? 0;
  }

  /** The entries in queue order. */
  ordered(): readonly QueuedEntry[] {
    return this.entries;
  }

  clear(): void {
    this.entries.length = 0;
    this.byId.clear();
    this.perCaller.clear();
  }
}
