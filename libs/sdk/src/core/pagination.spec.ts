import { T2V } from '../client.js';
import { fakeTransport, videoFixture } from '../testing/fake-transport.js';
import type { TransportRequest } from './transport.js';

function pages() {
  const all = Array.from({ length: 5 }, (_, i) => videoFixture({ id: `video_${i + 1}` }));
  return (request: TransportRequest) => {
    const url = new URL(request.url);
    const limit = Number(url.searchParams.get('limit') ?? 2);
    const after = url.searchParams.get('after');
    const start = after ? all.findIndex((v) => v.id === after) + 1 : 0;
    const data = all.slice(start, start + limit);
    return {
      json: {
        object: 'list',
        data,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
        has_more: start + limit < all.length,
      },
    };
  };
}

describe('videos.list pagination', () => {
  it('awaits to the first page', async () => {
    const fake = fakeTransport([pages()]);
    const page = await new T2V({ transport: fake.transport, env: {} }).videos.list({
      limit: 2,
      order: 'asc',
    });
    expect(page.data.map((v) => v.id)).toEqual(['video_1', 'video_2']);
    expect(page.has_more).toBe(true);
    expect(page.hasNextPage()).toBe(true);
    expect(new URL(fake.requests[0]!.url).search).toBe('?limit=2&order=asc');
  });

  it('iterates every item of every page with for await, passing the cursor', async () => {
    const fake = fakeTransport([pages()]);
    const ids: string[] = [];
    for await (const video of new T2V({ transport: fake.transport, env: {} }).videos.list({ limit: 2 }))
      ids.push(video.id);
    expect(ids).toEqual(['video_1', 'video_2', 'video_3', 'video_4', 'video_5']);
    expect(fake.requests.map((r) => new URL(r.url).searchParams.get('after'))).toEqual([
      null,
      'video_2',
      'video_4',
    ]);
  });

  it('iterates pages and fetches the next page explicitly', async () => {
    const fake = fakeTransport([pages()]);
    const client = new T2V({ transport: fake.transport, env: {} });
    const sizes: number[] = [];
    for await (const page of client.videos.list({ limit: 2 }).iterPages()) sizes.push(page.data.length);
    expect(sizes).toEqual([2, 2, 1]);
    const first = await client.videos.list({ limit: 3 });
    const second = await first.getNextPage();
    expect(second.data.map((v) => v.id)).toEqual(['video_4', 'video_5']);
    expect(second.hasNextPage()).toBe(false);
    await expect(second.getNextPage()).rejects.toThrow('No next page');
  });

  it('sends nothing until awaited or iterated', async () => {
    const fake = fakeTransport([pages()]);
    new T2V({ transport: fake.transport, env: {} }).videos.list();
    await new Promise((r) => setImmediate(r));
    expect(fake.requests).toHaveLength(0);
  });
});
