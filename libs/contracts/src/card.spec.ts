import * as fs from 'node:fs';
import * as path from 'node:path';

import { modelCardProblem } from './card';
import { parseWorkerEvent } from './protocol';

const FIXTURES = path.resolve(__dirname, '../fixtures/card');
const lines = <T>(file: string): T[] =>
  fs
    .readFileSync(path.join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

/** Shared with the worker's tests (tests/test_card.py): both sides give the same verdict on each card. */
describe('model card golden fixtures', () => {
  it.each(lines<{ card: unknown; why: string }>('valid.jsonl'))('accepts $why', ({ card }) => {
    expect(modelCardProblem(card)).toBeNull();
    const ready = { type: 'ready', protocol: 3, device: 'cpu', load_s: 1, card };
    expect(parseWorkerEvent(JSON.stringify(ready))).toEqual({ ok: true, value: ready });
  });

  it.each(lines<{ card: unknown; why: string }>('invalid.jsonl'))('rejects: $why', ({ card }) => {
    expect(modelCardProblem(card)).not.toBeNull();
    const ready = { type: 'ready', protocol: 3, device: 'cpu', load_s: 1, card };
    expect(parseWorkerEvent(JSON.stringify(ready)).ok).toBe(false);
  });

  it('names the field a card gets wrong', () => {
    const [{ card }] = lines<{ card: Record<string, unknown> }>('valid.jsonl');
    expect(modelCardProblem({ ...card, size: { ...(card!['size'] as object), default: '64x64' } })).toBe(
      'size.default 64x64 is not one of size.presets',
    );
    expect(modelCardProblem({ ...card, gpus: 1 })).toBe('unexpected field "gpus"');
  });
});
