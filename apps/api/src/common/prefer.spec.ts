import { createPreferences, parsePrefer, preferenceApplied } from './prefer';

const defaults = { handling: 'lenient' as const, maxWaitS: 600 };

describe('Prefer (RFC 7240)', () => {
  it('reads preferences with values, parameters, quotes and any case', () => {
    const p = parsePrefer('Handling=Strict; foo=bar, wait=10, respond-async, x="a,b;c"');
    expect(Object.fromEntries(p)).toEqual({
      handling: 'Strict',
      wait: '10',
      'respond-async': '',
      x: 'a,b;c',
    });
  });

  it('keeps the first of a repeated preference (several header lines arrive joined)', () => {
    expect(parsePrefer('wait=5, handling=strict, wait=9').get('wait')).toBe('5');
  });

  it('takes handling and wait together, in either order, capping wait', () => {
    for (const header of [
      'handling=strict, wait=30',
      'wait=30,handling=strict',
      'wait=30; x=1, handling="strict"',
    ]) {
      expect(createPreferences(header, defaults)).toEqual({
        handling: 'strict',
        handlingRequested: true,
        wait: 30,
      });
    }
    expect(createPreferences('wait=100000', defaults).wait).toBe(600);
  });

  it('ignores what it does not know, and falls back to the server setting', () => {
    expect(createPreferences('handling=bogus, wait=soon', defaults)).toEqual({
      handling: 'lenient',
      handlingRequested: false,
      wait: null,
    });
    expect(createPreferences(undefined, { ...defaults, handling: 'strict' }).handling).toBe('strict');
    // a request may ask for lenient handling on a strict server
    expect(createPreferences('handling=lenient', { ...defaults, handling: 'strict' }).handling).toBe(
      'lenient',
    );
  });

  it('names what was applied', () => {
    expect(preferenceApplied(createPreferences('handling=strict, wait=3', defaults), 3)).toBe(
      'handling=strict, wait=3',
    );
    expect(preferenceApplied(createPreferences('wait=3', defaults), 3)).toBe('wait=3');
    expect(preferenceApplied(createPreferences('', defaults), null)).toBeNull();
  });
});
