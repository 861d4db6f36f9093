import type { RequestOptions } from '../core/api-client.js';
import { APIResource } from '../core/resource.js';
import type { UsageParams, UsageReport } from '../types.js';

/** `/v1/usage`: what callers used, recorded when each job ended (a key with the admin scope). */
export class Usage extends APIResource {
  /**
   * Jobs by outcome, output seconds and frames, and GPU-seconds in [start, end), summed by
   * `group_by` (`caller`, `model`, `day`). `start`/`end`: ISO 8601 or unix seconds (a Date too).
   */
  async retrieve(params: UsageParams = {}, options: RequestOptions = {}): Promise<UsageReport> {
    const instant = (v: UsageParams['start']) => (v instanceof Date ? v.toISOString() : v);
    const groupBy = Array.isArray(params.group_by) ? params.group_by.join(',') : params.group_by;
    return (
      await this._client.json<UsageReport>(
        {
          method: 'GET',
          path: '/v1/usage',
          query: { start: instant(params.start), end: instant(params.end), group_by: groupBy },
        },
        options,
      )
    ).data;
  }
}
