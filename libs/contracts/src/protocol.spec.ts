import * as fs from 'node:fs';
import * as path from 'node:path';

import { encodeMessage, parseWorkerEvent, parseWorkerRequest } from './protocol';

const FIXTURES = path.resolve(__dirname, '../fixtures/protocol');
const lines = (file: string) =>
  fs
    .readFileSync(path.join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

/** The golden fixtures are shared with the Python worker's tests: both sides must agree on each line. */
describe('worker protocol golden fixtures', () => {
  it.each(lines('events.valid.jsonl'))('accepts event %s', (line) => {
    const parsed = parseWorkerEvent(line);
    expect(parsed).toEqual({ ok: true, value: JSON.parse(line) });
    if (parsed.ok) expect(encodeMessage(parsed.value)).toBe(JSON.stringify(JSON.parse(line)) + '\n');
  });

  it.each(lines('events.invalid.jsonl').map((l) => JSON.parse(l) as { raw: string; why: string }))(
    'rejects an event: $why',
    ({ raw }) => {
      expect(parseWorkerEvent(raw).ok).toBe(false);
    },
  );

  it.each(lines('requests.valid.jsonl'))('accepts request %s', (line) => {
    expect(parseWorkerRequest(line)).toEqual({ ok: true, value: JSON.parse(line) });
  });

  it.each(lines('requests.invalid.jsonl').map((l) => JSON.parse(l) as { raw: string; why: string }))(
    'rejects a request: $why',
    ({ raw }) => {
      expect(parseWorkerRequest(raw).ok).toBe(false);
    },
  );

  it('does not accept a request as an event or the other way round', () => {
    expect(parseWorkerEvent('{"type":"shutdown"}').ok).toBe(false);
    expect(parseWorkerRequest(lines('events.valid.jsonl')[0]!).ok).toBe(false);
  });
});
