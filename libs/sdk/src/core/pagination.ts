import type { RequestOptions } from './api-client.js';

/** Query parameters of a cursor-paginated list. */
export interface CursorPageParams {
  /** Return items after this id (the previous page's `last_id`). */
  after?: string;
  /** Items per page (server default and bounds apply). */
  limit?: number;
  /** Sort by creation time: `desc` (newest first, the default) or `asc`. */
  order?: 'asc' | 'desc';
}

/** The list envelope `{object:"list", data, first_id, last_id, has_more}`. */
export interface CursorPageBody<Item> {
  object: 'list';
  data: Item[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

type FetchPage<Item> = (params: CursorPageParams, options: RequestOptions) => Promise<CursorPageBody<Item>>;

/**
 * One page of a list. `for await (const item of page)` walks this page and every later one;
 * `iterPages()` walks pages; `getNextPage()` fetches the next one explicitly.
 */
export class CursorPage<Item extends { id: string }> implements AsyncIterable<Item> {
  /** Always `list`. */
  readonly object = 'list' as const;
  /** Items on this page. */
  readonly data: Item[];
  /** Id of the first item on this page, or null when empty. */
  readonly first_id: string | null;
  /** Id of the last item on this page, or null when empty. */
  readonly last_id: string | null;
  /** Whether the server has more items after this page. */
  readonly has_more: boolean;

  /** @internal pages are built by resource methods, not by users. */
  constructor(
    body: CursorPageBody<Item>,
    private readonly params: CursorPageParams,
    private readonly fetchPage: FetchPage<Item>,
    private readonly options: RequestOptions,
  ) {
    this.data = body.data ?? [];
    this.first_id = body.first_id ?? null;
    this.last_id = body.last_id ?? null;
    this.has_more = Boolean(body.has_more);
  }

  /** Whether {@link getNextPage} would return a page. */
  hasNextPage(): boolean {
    return this.has_more && this.data.length > 0;
  }

  /** Fetches the page after this one; throws when there is none. */
  async getNextPage(): Promise<CursorPage<Item>> {
    if (!this.hasNextPage()) throw new Error('No next page; check hasNextPage() first.');
    const after = this.last_id ?? this.data[this.data.length - 1]!.id;
    const params = { ...this.params, after };
    const body = await this.fetchPage(params, this.options);
    return new CursorPage(body, params, this.fetchPage, this.options);
  }

  /** Yields this page and every following page. */
  async *iterPages(): AsyncGenerator<CursorPage<Item>> {
    yield this;
    let page: CursorPage<Item> = this as CursorPage<Item>;
    while (page.hasNextPage()) {
      page = await page.getNextPage();
      yield page;
    }
  }

  /** Yields every item from this page on, fetching later pages as needed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    for await (const page of this.iterPages()) yield* page.data;
  }
}

/**
 * What `list()` returns: await it for the first {@link CursorPage}, or iterate it directly with
 * `for await` to walk every item of every page. Nothing is sent until one of those happens.
 */
export class PagePromise<Item extends { id: string }>
  implements PromiseLike<CursorPage<Item>>, AsyncIterable<Item>
{
  private promise: Promise<CursorPage<Item>> | undefined;

  /** @internal built by resource methods. */
  constructor(
    private readonly params: CursorPageParams,
    private readonly fetchPage: FetchPage<Item>,
    private readonly options: RequestOptions,
  ) {}

  private first(): Promise<CursorPage<Item>> {
    this.promise ??= this.fetchPage(this.params, this.options).then(
      (body) => new CursorPage(body, this.params, this.fetchPage, this.options),
    );
    return this.promise;
  }

  /** Resolves to the first page. */
  then<R1 = CursorPage<Item>, R2 = never>(
    onfulfilled?: ((value: CursorPage<Item>) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.first().then(onfulfilled, onrejected);
  }

  /** Like `Promise.prototype.catch` on the first page. */
  catch<R = never>(
    onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null,
  ): Promise<CursorPage<Item> | R> {
    return this.first().catch(onrejected);
  }

  /** Yields every page, starting with the first. */
  async *iterPages(): AsyncGenerator<CursorPage<Item>> {
    yield* (await this.first()).iterPages();
  }

  /** Yields every item of every page. */
  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    yield* await this.first();
  }
}
