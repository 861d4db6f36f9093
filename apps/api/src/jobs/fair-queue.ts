import { createHash } from 'node:crypto';

import type { AppConfig } from '../config/app-config';

/**
 * Fair turns across callers (docs/adr/0079-fair-queue.md). Each queued job carries a turn: the
 * start tag of start-time fair queuing. A caller's next job starts its turn where the caller's
 * last one ended, or at the queue's virtual time (the turn of the job claimed last) if that is
 * later; a job's turn lasts `TURN_UNIT / weight`. The queue runs in turn order (ties by job id),
 * so within one caller jobs stay FIFO, a newcomer goes right after the jobs already started, and
 * callers with weights 3 and 1 start jobs 3:1 while both have jobs waiting. Both stores keep the
 * same state (virtual time, each caller's last turn end, queued/running counts per caller) and
 * decide in one atomic step.
 */

/** The length of one job's turn for a caller of weight 1 (integers stay exact in a double). */
export const TURN_UNIT = 1_000_000;

/** A caller's share and limits; every caller without a configured key gets the defaults. */
export interface CallerPolicy {
  /** Relative share of starts while several callers wait (>= 1). */
  weight: number;
  /** Queued jobs this caller may have at once; more creates are refused (429). Null: no cap. */
  maxQueued: number | null;
  /** Jobs of this caller that may run at once; the rest wait while others run. Null: no cap. */
  maxRunning: number | null;
}

export const DEFAULT_POLICY: CallerPolicy = { weight: 1, maxQueued: null, maxRunning: null };

/** How a store learns a caller's policy (from the configured API keys). */
export type FairPolicy = (caller: string) => CallerPolicy;

export const defaultFairPolicy: FairPolicy = () => DEFAULT_POLICY;

/** The caller of jobs made without any identity (no key, no token, no `user`). */
export const ANONYMOUS = 'anonymous';

/** A job's turn length for a caller of `weight`. */
export function turnCost(weight: number): number {
  return Math.max(1, Math.round(TURN_UNIT / Math.max(1, weight)));
}

/**
 * Who a job is queued for: the API key's name (`key:<name>`), else the token subject
 * (`sub:<subject>`), both as the auth guard names the principal; else the request's `user`
 * (`user:<user>`); else `anonymous`.
 */
export function callerOf(principal: string | undefined, user: string | null): string {
  if (principal) return principal;
  if (user) return `user:${user}`;
  return ANONYMOUS;
}

/** Which cap a caller reached. */
export type CallerCap = 'max_queued';

/** The digest a key is compared by: its SHA-256, or the one a `sha256:<hex>` entry gives. */
export function keyDigest(key: string): Buffer {
  return key.startsWith('sha256:')
    ? Buffer.from(key.slice(7), 'hex')
    : createHash('sha256').update(key).digest();
}

/** The principal (and caller) a key names: `key:<name>`, or `key:<first 16 hex of its digest>`. */
export function keyPrincipal(key: string, name: string | null): string {
  return name ? `key:${name}` : `key:${keyDigest(key).toString('hex').slice(0, 16)}`;
}

/** Each configured key's caller gets its key's weight and caps; everyone else the defaults. */
export function fairPolicyOf(config: Pick<AppConfig, 'apiKeys' | 'keyPolicies'>): FairPolicy {
  const byCaller = new Map<string, CallerPolicy>();
  config.apiKeys.forEach((key, i) => {
    const p = config.keyPolicies[i];
    if (p)
      byCaller.set(keyPrincipal(key, p.name), {
        weight: p.weight,
        maxQueued: p.maxQueued,
        maxRunning: p.maxRunning,
      });
  });
  return (caller) => byCaller.get(caller) ?? DEFAULT_POLICY;
}
