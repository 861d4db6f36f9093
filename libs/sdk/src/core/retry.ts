/**
 * When to retry and how long to wait. Kept pure (random source passed in) so it is tested exactly.
 */

/** First backoff delay, before jitter. */
export const INITIAL_RETRY_DELAY_MS = 500;
/** Ceiling of the exponential backoff. */
export const MAX_RETRY_DELAY_MS = 8_000;
/** A server-sent `Retry-After` longer than this is ignored in favour of the backoff. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Whether a response with this status (and headers) may be retried: 408, 409, 429 and 5xx, unless
 * the server says otherwise with `x-should-retry`.
 */
export function isRetryableStatus(status: number, headers: Record<string, string>): boolean {
  const hint = headers['x-should-retry'];
  if (hint === 'true') return true;
  if (hint === 'false') return false;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * Milliseconds the server asked us to wait, from `retry-after-ms` or `Retry-After` (seconds or an
 * HTTP date); undefined when absent, unparsable, negative or longer than {@link MAX_RETRY_AFTER_MS}.
 */
export function parseRetryAfter(
  headers: Record<string, string>,
  now: number = Date.now(),
): number | undefined {
  let ms: number | undefined;
  const msHeader = headers['retry-after-ms'];
  if (msHeader !== undefined && msHeader.trim() !== '' && Number.isFinite(Number(msHeader))) {
    ms = Number(msHeader);
  } else {
    const value = headers['retry-after']?.trim();
    if (value) {
      if (/^\d+(\.\d+)?$/.test(value)) ms = Number(value) * 1000;
      else {
        const date = Date.parse(value);
        if (!Number.isNaN(date)) ms = date - now;
      }
    }
  }
  if (ms === undefined || ms < 0 || ms > MAX_RETRY_AFTER_MS) return undefined;
  return ms;
}

/**
 * Delay before retry number `retriesSoFar + 1`: the server's `Retry-After` when given, otherwise
 * exponential backoff from {@link INITIAL_RETRY_DELAY_MS} capped at {@link MAX_RETRY_DELAY_MS},
 * with up to 25 % jitter downwards so that many clients do not retry in lockstep.
 */
export function retryDelayMs(
  retriesSoFar: number,
  headers: Record<string, string> | undefined,
  random: () => number = Math.random,
): number {
  const fromServer = headers ? parseRetryAfter(headers) : undefined;
  if (fromServer !== undefined) return fromServer;
  const base = Math.min(INITIAL_RETRY_DELAY_MS * 2 ** retriesSoFar, MAX_RETRY_DELAY_MS);
  return Math.round(base * (1 - 0.25 * random()));
}
