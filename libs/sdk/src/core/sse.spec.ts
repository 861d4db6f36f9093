import { parseSSE, type ServerSentEvent } from './sse.js';

async function collect(chunks: string[]): Promise<ServerSentEvent[]> {
  const out: ServerSentEvent[] = [];
  async function* source() {
    for (const c of chunks) yield new TextEncoder().encode(c);
  }
  for await (const e of parseSSE(source())) out.push(e);
  return out;
}

describe('parseSSE', () => {
  it('parses named events and skips comments', async () => {
    const events = await collect([': ping\n\nevent: video.progress\ndata: {"progress":50}\n\n: ping\n\n']);
    expect(events).toEqual([{ event: 'video.progress', data: '{"progress":50}' }]);
  });

  it('joins multi-line data and defaults the name to message', async () => {
    expect(await collect(['data: a\ndata: b\n\n'])).toEqual([{ event: 'message', data: 'a\nb' }]);
  });

  it('handles CRLF and CR line ends, also split across chunks', async () => {
    const events = await collect(['event: x\r', '\ndata: 1\r\n\r', '\nevent: y\rdata: 2\r\r']);
    expect(events).toEqual([
      { event: 'x', data: '1' },
      { event: 'y', data: '2' },
    ]);
  });

  it('handles events split at every byte and multi-byte characters split across chunks', async () => {
    const text = 'event: video.completed\ndata: {"prompt":"füchse 🦊"}\n\n';
    const bytes = new TextEncoder().encode(text);
    async function* byteByByte() {
      for (const b of bytes) yield new Uint8Array([b]);
    }
    const out: ServerSentEvent[] = [];
    for await (const e of parseSSE(byteByByte())) out.push(e);
    expect(out).toEqual([{ event: 'video.completed', data: '{"prompt":"füchse 🦊"}' }]);
  });

  it('keeps id and retry, drops a leading BOM and an unterminated trailing event', async () => {
    const events = await collect([
      '\uFEFFid: 7\nretry: 1500\nevent: a\ndata:no-space\n\nevent: b\ndata: cut',
    ]);
    expect(events).toEqual([{ event: 'a', data: 'no-space', id: '7', retry: 1500 }]);
  });

  it('ignores events without data', async () => {
    expect(await collect(['event: nothing\n\n'])).toEqual([]);
  });
});
