import type { APIClient } from './api-client.js';

/** Base of the resource classes (`client.videos`, `client.models`): they share the client core. */
export abstract class APIResource {
  /** @internal */
  protected readonly _client: APIClient;

  /** @internal resources are created by the `T2V` constructor. */
  constructor(client: APIClient) {
    this._client = client;
  }
}
