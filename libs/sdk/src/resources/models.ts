import type { RequestOptions } from '../core/api-client.js';
import { APIResource } from '../core/resource.js';
import type { Model, ModelList } from '../types.js';

/** `/v1/models`: the loaded model and its presets. */
export class Models extends APIResource {
  /** Lists the served models with their presets (sizes, seconds, fps, steps, guidance). */
  async list(options: RequestOptions = {}): Promise<ModelList> {
    return (await this._client.json<ModelList>({ method: 'GET', path: '/v1/models' }, options)).data;
  }

  /** Fetches one model by id; a `NotFoundError` when it is not served. */
  async retrieve(id: string, options: RequestOptions = {}): Promise<Model> {
    return (
      await this._client.json<Model>({ method: 'GET', path: `/v1/models/${encodeURIComponent(id)}` }, options)
    ).data;
  }
}
