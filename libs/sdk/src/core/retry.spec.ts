import { isRetryableStatus, MAX_RETRY_DELAY_MS, parseRetryAfter, retryDelayMs } from './retry.js';

describe('isRetryableStatus', () => {
  it.each([408, 409, 429, 500, 502, 503, 504])('retries %i', (status) =>
    expect(isRetryableStatus(status, {})).toBe(true),
  );
  it.each([400, 401, 403, 404, 413, 422])('does not retry %i', (status) =>
    expect(isRetryableStatus(status, {})).toBe(false),
  );
  it('obeys x-should-retry', () => {
    expect(isRetryableStatus(503, { 'x-should-retry': 'false' })).toBe(false);
    expect(isRetryableStatus(400, { 'x-should-retry': 'true' })).toBe(true);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds, fractional seconds and milliseconds', () => {
    expect(parseRetryAfter({ 'retry-after': '3' })).toBe(3000);
    expect(parseRetryAfter({ 'retry-after': '0.25' })).toBe(250);
    expect(parseRetryAfter({ 'retry-after-ms': '120', 'retry-after': '9' })).toBe(120);
  });
  it('reads an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, now)).toBe(5000);
  });
  it('ignores garbage, negative and overlong values', () => {
    expect(parseRetryAfter({})).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': 'soon' })).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': '-1' })).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': '3600' })).toBeUndefined();
  });
});

describe('retryDelayMs', () => {
  it('prefers the server hint', () => expect(retryDelayMs(5, { 'retry-after': '2' })).toBe(2000));
  it('backs off exponentially with downward jitter, capped', () => {
    expect(retryDelayMs(0, undefined, () => 0)).toBe(500);
    expect(retryDelayMs(0, undefined, () => 1)).toBe(375);
    expect(retryDelayMs(1, undefined, () => 0)).toBe(1000);
    expect(retryDelayMs(2, {}, () => 0)).toBe(2000);
    expect(retryDelayMs(10, undefined, () => 0)).toBe(MAX_RETRY_DELAY_MS);
    for (let i = 0; i < 50; i++) {
      const d = retryDelayMs(3, undefined);
      expect(d).toBeGreaterThanOrEqual(3000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });
});
