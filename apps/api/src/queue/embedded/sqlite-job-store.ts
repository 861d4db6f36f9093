import * as fs from 'node:fs';
import * as path from 'node:path';

import { isTerminal, type JobStatus } from '@t2v/contracts';
import Database from 'better-sqlite3';

import { ANONYMOUS, defaultFairPolicy, type FairPolicy, turnCost } from '../../jobs/fair-queue';
import type { JobStore, OutboxDelivery, OutboxIntent } from '../../jobs/job-store';
import { CallerCapReached, IdempotencyKeyTaken, QueueFull } from '../../jobs/job-store.errors';
import type { ShapeTiming } from '../../jobs/estimates';
import type { Job, JobPatch, ListPage, ListQuery } from '../../jobs/job.types';
import { type UsageRecord, usageOf } from '../../jobs/usage';
import { entryOf, TurnQueue } from './turn-queue';

/** Records kept in memory after a read or write: this process is the file's only writer. */
const CACHED_RECORDS = 10_000;

/**
 * The embedded driver's store: one SQLite file in WAL mode with synchronous=FULL, so a job the
 * API has acknowledged survives a crash of the process or the machine. The API is the file's
 * only writer, so records are also kept in a bounded write-through cache: a read of a recent job
 * does not touch SQLite or parse JSON.
 */
export class SqliteJobStore implements JobStore {
  readonly driver = 'embedded';
  private db: Database.Database | null = null;
  private readonly queued = new TurnQueue();
  /** Running jobs per caller (running caps). */
  private readonly running = new Map<string, number>();
  /** The fair queue's virtual time and each caller's last turn end, as committed (`fair` table). */
  private vtime = 0;
  private readonly finish = new Map<string, number>();
  /** Inserts waiting for the next group commit (one fsync for all creates of one event-loop turn). */
  private pending: Array<{
    job: Omit<Job, 'seq'>;
    outbox: OutboxIntent | undefined;
    resolve: (job: Job) => void;
    reject: (err: unknown) => void;
  }> = [];

  /**
   * `maxQueued`: inserts of queued jobs beyond this many are refused with QueueFull, atomically.
   * `policy`: each caller's weight and caps (jobs/fair-queue.ts).
   */
  constructor(
    private readonly file: string,
    private readonly maxQueued = Number.POSITIVE_INFINITY,
    private readonly policy: FairPolicy = defaultFairPolicy,
  ) {}

  async open(): Promise<void> {
    if (this.db) return;
    if (this.file !== ':memory:') fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const db = new Database(this.file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        cache_key TEXT,
        expires_at INTEGER,
        expired INTEGER NOT NULL DEFAULT 0,
        body TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
      CREATE INDEX IF NOT EXISTS jobs_cache ON jobs(cache_key, status);
      CREATE TABLE IF NOT EXISTS webhook_outbox (
        id TEXT PRIMARY KEY,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        intent TEXT NOT NULL,
        job TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(due_at);
      CREATE TABLE IF NOT EXISTS fair (name TEXT PRIMARY KEY, value REAL NOT NULL);
      CREATE TABLE IF NOT EXISTS usage (
        job_id TEXT PRIMARY KEY,
        ended_at INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS usage_ended ON usage(ended_at);
      CREATE TABLE IF NOT EXISTS timings (key TEXT PRIMARY KEY, body TEXT NOT NULL);
    `);
    this.db = db;
    this.queued.clear();
    this.running.clear();
    this.finish.clear();
    this.vtime = 0;
    const active = db.prepare(`SELECT seq, body FROM jobs WHERE status IN ('queued', 'in_progress')`).all();
    for (const row of active) {
      const job = this.read(row)!;
      this.track(job, null, job.status);
    }
    for (const { name, value } of db.prepare('SELECT name, value FROM fair').all() as Array<{
      name: string;
      value: number;
    }>) {
      if (name === 'vtime') this.vtime = value;
      else this.finish.set(name.slice('finish:'.length), value);
    }
  }

  /** Mirrors a committed status change into the in-memory queue and running counts. */
  private track(job: Job, from: JobStatus | null, to: JobStatus | null): void {
    if (from === 'queued' && to !== 'queued') this.queued.remove(job.id);
    if (to === 'queued' && from !== 'queued') this.queued.add(entryOf(job));
    const caller = job.caller ?? ANONYMOUS;
    if (from === 'in_progress' && to !== 'in_progress') {
      const n = (this.running.get(caller) ?? 1) - 1;
      if (n > 0) this.running.set(caller, n);
      else this.running.delete(caller);
    }
    if (to === 'in_progress' && from !== 'in_progress')
      this.running.set(caller, (this.running.get(caller) ?? 0) + 1);
  }

  /** Commits the fair queue's state (inside the caller's transaction). */
  private saveFair(name: string, value: number): void {
    this.sql(
      'INSERT INTO fair (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
    ).run(name, value);
  }

  /** Records the usage of a job that just ended (inside the caller's transaction). */
  private addUsage(job: Job): void {
    const usage = usageOf(job);
    if (!usage) return;
    this.sql('INSERT OR IGNORE INTO usage (job_id, ended_at, body) VALUES (?, ?, ?)').run(
      usage.jobId,
      usage.endedAt,
      JSON.stringify(usage),
    );
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.cache.clear();
    this.db?.close();
    this.db = null;
  }

  private get conn(): Database.Database {
    if (!this.db) throw new Error('job store is not open');
    return this.db;
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared once per SQL text and reused: preparing dominates small queries otherwise. */
  private sql(text: string): Database.Statement {
    let stmt = this.statements.get(text);
    if (!stmt) {
      stmt = this.conn.prepare(text);
      this.statements.set(text, stmt);
    }
    return stmt;
  }

  /**
   * Resolves once the job is committed (fsynced). Concurrent inserts share one transaction: a
   * burst of creates costs one disk flush, not one each.
   */
  insert(job: Omit<Job, 'seq'>, outbox?: OutboxIntent): Promise<Job> {
    return new Promise((resolve, reject) => {
      this.pending.push({ job, outbox, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flushInserts());
    });
  }

  private flushInserts(): void {
    const batch = this.pending.splice(0);
    const results: Array<{ ok: true; job: Job } | { ok: false; error: unknown }> = [];
    try {
      const stmt = this.sql(
        `INSERT INTO jobs (id, status, idempotency_key, cache_key, expires_at, expired, body)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      // Turns given in this batch; the in-memory state follows only once it is committed.
      const finish = new Map<string, number>();
      const perCaller = new Map<string, number>();
      this.conn.transaction(() => {
        // The bound is checked inside the commit, so concurrent creates cannot overshoot it.
        let queued = this.queued.size;
        for (const item of batch) {
          const { outbox } = item;
          let job = item.job;
          if (job.status === 'queued' && queued >= this.maxQueued) {
            results.push({ ok: false, error: new QueueFull(queued) });
            continue;
          }
          const caller = job.caller ?? ANONYMOUS;
          if (job.status === 'queued') {
            const policy = this.policy(caller);
            const mine = this.queued.countOf(caller) + (perCaller.get(caller) ?? 0);
            if (policy.maxQueued !== null && mine >= policy.maxQueued) {
              results.push({
                ok: false,
                error: new CallerCapReached(caller, 'max_queued', policy.maxQueued),
              });
              continue;
            }
            const turn = Math.max(this.vtime, finish.get(caller) ?? this.finish.get(caller) ?? 0);
            job = { ...job, caller, turn };
            item.job = job;
          }
          try {
            const info = stmt.run(
              job.id,
              job.status,
              job.idempotencyKey,
              job.cacheKey,
              job.expiresAt,
              job.expired ? 1 : 0,
              JSON.stringify(job),
            );
            const inserted = { ...job, seq: Number(info.lastInsertRowid) };
            if (outbox) this.addDelivery(outbox, inserted);
            this.addUsage(inserted);
            results.push({ ok: true, job: inserted });
            if (job.status === 'queued') {
              queued += 1;
              const end = job.turn! + turnCost(this.policy(caller).weight);
              finish.set(caller, end);
              this.saveFair(`finish:${caller}`, end);
              perCaller.set(caller, (perCaller.get(caller) ?? 0) + 1);
            }
          } catch (error) {
            // A reused Idempotency-Key fails that row only, with the error both drivers use.
            const taken =
              (error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' &&
              String((error as Error).message).includes('idempotency_key');
            results.push({
              ok: false,
              error: taken ? new IdempotencyKeyTaken(this.idHolding(job.idempotencyKey!)) : error,
            });
          }
        }
      })();
      for (const [caller, end] of finish) this.finish.set(caller, end);
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const r = results[i]!;
      if (r.ok) {
        this.track(r.job, null, r.job.status);
        this.remember(r.job);
        item.resolve(r.job);
      } else item.reject(r.error);
    });
  }

  private idHolding(idempotencyKey: string): string | null {
    const row = this.sql('SELECT id FROM jobs WHERE idempotency_key = ?').get(idempotencyKey) as
      { id: string } | undefined;
    return row?.id ?? null;
  }

  async get(id: string): Promise<Job | null> {
    return this.load(id);
  }

  /** The record, from the cache or the file. Records are immutable (frozen): change = new object. */
  private load(id: string): Job | null {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const job = this.read(this.sql('SELECT seq, body FROM jobs WHERE id = ?').get(id));
    if (job) this.remember(job);
    return job;
  }

  private readonly cache = new Map<string, Job>();

  /**
   * Keeps a committed record; the oldest entries go first when the cache is full. Frozen, so the
   * cached copy can be handed out as it is: a caller that tried to change it would throw.
   */
  private remember(job: Job): void {
    deepFreeze(job);
    this.cache.delete(job.id);
    this.cache.set(job.id, job);
    if (this.cache.size > CACHED_RECORDS) this.cache.delete(this.cache.keys().next().value!);
  }

  async markExpired(id: string): Promise<Job | null> {
    return this.change(id, null, (job) => ({ ...job, expired: true }));
  }

  async transition(
    id: string,
    from: JobStatus[],
    to: JobStatus,
    patch: JobPatch = {},
    outbox?: OutboxIntent,
  ): Promise<Job | null> {
    return this.change(id, from, (job) => ({ ...job, ...patch, status: to }), outbox);
  }

  /** One committed change of one record (and its outbox entry), mirrored into the indexes. */
  private change(
    id: string,
    from: JobStatus[] | null,
    apply: (job: Job) => Job,
    outbox?: OutboxIntent,
  ): Job | null {
    const change = this.conn.transaction(() => {
      const job = this.load(id);
      if (!job || (from && !from.includes(job.status))) return null;
      const next = apply(job);
      this.write(next);
      if (outbox) this.addDelivery(outbox, next);
      if (!isTerminal(job.status)) this.addUsage(next);
      return { prev: job.status, next };
    })();
    if (!change) return null;
    this.track(change.next, change.prev, change.next.status);
    this.remember(change.next);
    return change.next;
  }

  async delete(id: string): Promise<boolean> {
    const job = this.load(id);
    this.cache.delete(id);
    if (!job) return false;
    const deleted = this.sql('DELETE FROM jobs WHERE id = ?').run(id).changes > 0;
    if (deleted) this.track(job, job.status, null);
    return deleted;
  }

  private addDelivery(intent: OutboxIntent, job: Job): void {
    this.sql(`INSERT INTO webhook_outbox (id, due_at, attempts, intent, job) VALUES (?, ?, 0, ?, ?)`).run(
      intent.id,
      intent.at,
      JSON.stringify(intent),
      JSON.stringify(job),
    );
  }

  async claimDeliveries(now: number, leaseMs: number, limit: number): Promise<OutboxDelivery[]> {
    return this.conn.transaction(() => {
      const rows = this.sql(
        `SELECT id, attempts, intent, job FROM webhook_outbox WHERE due_at <= ? ORDER BY due_at LIMIT ?`,
      ).all(now, limit) as Array<{ id: string; attempts: number; intent: string; job: string }>;
      const lease = this.sql(`UPDATE webhook_outbox SET due_at = ? WHERE id = ?`);
      for (const row of rows) lease.run(now + leaseMs, row.id);
      return rows.map((row) => ({
        ...(JSON.parse(row.intent) as OutboxIntent),
        job: JSON.parse(row.job) as Job,
        attempts: row.attempts,
      }));
    })();
  }

  async rescheduleDelivery(id: string, dueAt: number, attempts: number): Promise<void> {
    this.sql(`UPDATE webhook_outbox SET due_at = ?, attempts = ? WHERE id = ?`).run(dueAt, attempts, id);
  }

  async removeDelivery(id: string): Promise<void> {
    this.sql(`DELETE FROM webhook_outbox WHERE id = ?`).run(id);
  }

  async list(query: ListQuery): Promise<ListPage> {
    const desc = query.order === 'desc';
    let cursorSeq: number | null = null;
    if (query.after) {
      const row = this.sql('SELECT seq FROM jobs WHERE id = ?').get(query.after) as
        { seq: number } | undefined;
      if (!row) return { data: [], hasMore: false };
      cursorSeq = row.seq;
    }
    const where = cursorSeq === null ? '' : desc ? 'WHERE seq < @cursor' : 'WHERE seq > @cursor';
    const rows = this.sql(
      `SELECT seq, body FROM jobs ${where} ORDER BY seq ${desc ? 'DESC' : 'ASC'} LIMIT @limit`,
    ).all({ cursor: cursorSeq, limit: query.limit + 1 });
    const jobs = rows.map((r) => this.read(r)!);
    return { data: jobs.slice(0, query.limit), hasMore: jobs.length > query.limit };
  }

  async count(status: JobStatus): Promise<number> {
    if (status === 'queued') return this.queued.size;
    if (status === 'in_progress') return [...this.running.values()].reduce((a, b) => a + b, 0);
    return (this.sql('SELECT COUNT(*) AS n FROM jobs WHERE status = ?').get(status) as { n: number }).n;
  }

  async queuePosition(id: string): Promise<number | null> {
    return this.queued.rank(id);
  }

  /** The next queued job in turn order whose caller is below its running cap. */
  private nextInTurn(): string | null {
    for (const e of this.queued.ordered()) {
      const cap = this.policy(e.caller).maxRunning;
      if (cap === null || (this.running.get(e.caller) ?? 0) < cap) return e.id;
    }
    return null;
  }

  async claim(now: number, id?: string, carrier?: string): Promise<Job | null> {
    const pick = id ?? this.nextInTurn();
    if (pick === null || this.queued.rank(pick) === null) return null;
    const claimed = this.conn.transaction(() => {
      const job = this.load(pick);
      if (!job || job.status !== 'queued') return null;
      const next: Job = {
        ...job,
        status: 'in_progress',
        startedAt: now,
        attempts: job.attempts + 1,
        progress: 0,
        carrier: carrier ?? null,
      };
      this.write(next);
      const vtime = Math.max(this.vtime, job.turn ?? 0);
      if (vtime !== this.vtime) this.saveFair('vtime', vtime);
      return { next, vtime };
    })();
    if (!claimed) return null;
    this.vtime = claimed.vtime;
    this.track(claimed.next, 'queued', 'in_progress');
    this.remember(claimed.next);
    return claimed.next;
  }

  async timings(): Promise<Record<string, ShapeTiming>> {
    const rows = this.sql('SELECT key, body FROM timings').all() as Array<{ key: string; body: string }>;
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.body) as ShapeTiming]));
  }

  async saveTiming(key: string, timing: ShapeTiming): Promise<void> {
    this.sql(
      'INSERT INTO timings (key, body) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET body = excluded.body',
    ).run(key, JSON.stringify(timing));
  }

  async usage(from: number, to: number): Promise<UsageRecord[]> {
    return (
      this.sql('SELECT body FROM usage WHERE ended_at >= ? AND ended_at < ? ORDER BY ended_at, job_id').all(
        from,
        to,
      ) as Array<{ body: string }>
    ).map((r) => JSON.parse(r.body) as UsageRecord);
  }

  async byStatus(status: JobStatus): Promise<Job[]> {
    return this.sql('SELECT seq, body FROM jobs WHERE status = ? ORDER BY seq')
      .all(status)
      .map((r) => this.read(r)!);
  }

  async findByIdempotencyKey(key: string): Promise<Job | null> {
    return this.read(this.sql('SELECT seq, body FROM jobs WHERE idempotency_key = ?').get(key));
  }

  async findCompletedByCacheKey(cacheKey: string): Promise<Job | null> {
    return this.read(
      this.sql(
        `SELECT seq, body FROM jobs WHERE cache_key = ? AND status = 'completed' AND expired = 0
           ORDER BY seq DESC LIMIT 1`,
      ).get(cacheKey),
    );
  }

  async findActiveByCacheKey(cacheKey: string): Promise<Job | null> {
    return this.read(
      this.sql(
        `SELECT seq, body FROM jobs WHERE cache_key = ? AND status IN ('queued', 'in_progress')
           ORDER BY seq LIMIT 1`,
      ).get(cacheKey),
    );
  }

  async findExpired(now: number): Promise<Job[]> {
    return this.sql(
      `SELECT seq, body FROM jobs WHERE expired = 0 AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY seq`,
    )
      .all(now)
      .map((r) => this.read(r)!);
  }

  async ping(): Promise<void> {
    this.sql('SELECT 1').get();
  }

  private write(job: Job): void {
    const { seq: _seq, ...body } = job;
    this.sql(
      `UPDATE jobs SET status = ?, idempotency_key = ?, cache_key = ?, expires_at = ?, expired = ?, body = ?
         WHERE id = ?`,
    ).run(
      job.status,
      job.idempotencyKey,
      job.cacheKey,
      job.expiresAt,
      job.expired ? 1 : 0,
      JSON.stringify(body),
      job.id,
    );
  }

  private read(row: unknown): Job | null {
    if (!row) return null;
    const r = row as { seq: number; body: string };
    return { ...(JSON.parse(r.body) as Omit<Job, 'seq'>), seq: r.seq };
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
