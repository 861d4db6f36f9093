import * as fs from 'node:fs';
import * as path from 'node:path';

import { parseModelProfile } from './profile';

const FIXTURES = path.resolve(__dirname, '../fixtures/profile');
const lines = <T>(file: string): T[] =>
  fs
    .readFileSync(path.join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);

/** Shared with the worker's tests (tests/test_profile.py): same verdicts, same messages. */
describe('model profile golden fixtures', () => {
  it.each(lines<{ profile: Record<string, unknown> }>('valid.jsonl'))('accepts $profile', ({ profile }) => {
    const parsed = parseModelProfile(profile);
    const expected = Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== null));
    expect(parsed).toEqual({ ok: true, value: expected });
  });

  it.each(lines<{ raw: unknown; error: string }>('invalid.jsonl'))('rejects: $error', ({ raw, error }) => {
    expect(parseModelProfile(raw)).toEqual({ ok: false, error });
  });
});
