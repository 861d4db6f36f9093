/**
 * A Server-Sent Events parser following the WHATWG event-stream rules: `\n`, `\r\n` or `\r` line
 * ends (also split across chunks), multi-line `data`, comments (`: ping`) skipped, a leading BOM
 * dropped, and an event dispatched on each blank line.
 */

/** One dispatched event. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when the server sent none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen, if any. */
  id?: string;
  /** The `retry:` reconnection hint in ms, if sent with this event. */
  retry?: number;
}

/** Parses a byte stream into events; stops when the stream ends (a trailing partial event is dropped). */
export async function* parseSSE(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let first = true;
  let eventName = '';
  let dataLines: string[] = [];
  let lastId: string | undefined;
  let retry: number | undefined;

  const processLine = (line: string): ServerSentEvent | undefined => {
    if (line === '') {
      if (dataLines.length === 0) {
        eventName = '';
        retry = undefined;
        return undefined;
      }
      const event: ServerSentEvent = { event: eventName || 'message', data: dataLines.join('\n') };
      if (lastId !== undefined) event.id = lastId;
      if (retry !== undefined) event.retry = retry;
      eventName = '';
      dataLines = [];
      retry = undefined;
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        eventName = value;
        break;
      case 'data':
        dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) retry = Number(value);
        break;
    }
    return undefined;
  };

  for await (const chunk of chunks) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    let start = 0;
    for (;;) {
      const lf = buffer.indexOf('\n', start);
      const cr = buffer.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A '\r' at the very end may be the first half of a '\r\n' split across chunks.
        if (cr === buffer.length - 1) break;
        end = cr;
        next = buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      const event = processLine(buffer.slice(start, end));
      start = next;
      if (event) yield event;
    }
    buffer = buffer.slice(start);
  }
  buffer += decoder.decode();
  // A lone '\r' held back at the end of the stream still ends a line.
  if (buffer.endsWith('\r')) {
    const event = processLine(buffer.slice(0, -1));
    if (event) yield event;
  }
}
