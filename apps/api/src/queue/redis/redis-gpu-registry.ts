import type { Redis } from 'ioredis';

import type { GpuRegistry, ProcessReport, PublishedCard } from '../../jobs/gpu-registry';
import { StoreUnavailable } from '../../jobs/job-store.errors';
import type { RedisEventBus } from './redis-event-bus';

/**
 * The GPU registry in Redis, beside the jobs (`{<prefix>}:gpu:processes`, a hash of one JSON
 * report per process; `{<prefix>}:model-card`, the last card published), so the API tier sees the
 * GPU tier's workers and serves its card. Cards, and reports that change what a process can run,
 * are announced on the event bus. Reports expire by their own time stamp; long-stale ones are
 * removed by whoever reads them.
 */
export class RedisGpuRegistry implements GpuRegistry {
  readonly ttlMs: number;
  private readonly processesKey: string;
  private readonly cardKey: string;

  constructor(
    private readonly client: Redis,
    keyPrefix: string,
    private readonly bus: RedisEventBus,
    ttlMs = 15_000,
  ) {
    this.ttlMs = ttlMs;
    this.processesKey = `${keyPrefix}:gpu:processes`;
    this.cardKey = `${keyPrefix}:model-card`;
  }

  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw new StoreUnavailable((err as Error).message);
    }
  }

  async report(report: ProcessReport, changed: boolean): Promise<void> {
    await this.call(() => this.client.hset(this.processesKey, report.process, JSON.stringify(report)));
    if (changed) this.bus.publishCapacityChange();
  }

  async withdraw(process: string): Promise<void> {
    await this.call(() => this.client.hdel(this.processesKey, process));
    this.bus.publishCapacityChange();
  }

  onChange(listener: () => void): void {
    this.bus.onCapacityChange(listener);
  }

  async reports(now: number): Promise<ProcessReport[]> {
    const all = await this.call(() => this.client.hgetall(this.processesKey));
    const fresh: ProcessReport[] = [];
    const gone: string[] = [];
    for (const [process, raw] of Object.entries(all)) {
      let report: ProcessReport;
      try {
        report = JSON.parse(raw) as ProcessReport;
      } catch {
        gone.push(process);
        continue;
      }
      if (now - report.seenAt <= this.ttlMs) fresh.push(report);
      // A process silent for four lifetimes is gone (SIGKILL, node lost): drop its report.
      else if (now - report.seenAt > 4 * this.ttlMs) gone.push(process);
    }
    if (gone.length > 0) await this.client.hdel(this.processesKey, ...gone).catch(() => undefined);
    return fresh;
  }

  async publishCard(card: PublishedCard): Promise<void> {
    await this.call(() => this.client.set(this.cardKey, JSON.stringify(card)));
    this.bus.publishCard(card);
  }

  async lastCard(): Promise<PublishedCard | null> {
    const raw = await this.call(() => this.client.get(this.cardKey));
    return raw ? (JSON.parse(raw) as PublishedCard) : null;
  }

  onCard(listener: (card: PublishedCard) => void): void {
    this.bus.onCard(listener);
  }
}
