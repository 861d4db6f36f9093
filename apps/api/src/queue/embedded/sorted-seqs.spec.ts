import { SortedSeqs } from './sorted-seqs';

describe('SortedSeqs', () => {
  it('keeps ranks in order through appends, requeues and removals', () => {
    const s = new SortedSeqs();
    for (const seq of [1, 2, 3, 5, 8]) s.add(seq);
    expect([1, 2, 3, 5, 8].map((q) => s.rank(q))).toEqual([1, 2, 3, 4, 5]);
    s.remove(1); // claimed
    s.remove(5); // cancelled
    expect(s.rank(8)).toBe(3);
    s.add(1); // requeued after a crash: back to the head
    expect(s.rank(1)).toBe(1);
    expect(s.rank(8)).toBe(4);
    s.add(1); // idempotent
    expect(s.size).toBe(4);
    expect(s.rank(4)).toBeNull();
    s.remove(4); // absent: no-op
    expect(s.size).toBe(4);
  });

  it('matches a naive rank over random operations', () => {
    const s = new SortedSeqs();
    const naive = new Set<number>();
    let rnd = 42;
    const next = () => (rnd = (rnd * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const seq = next() % 300;
      if (next() % 3 === 0) {
        s.remove(seq);
        naive.delete(seq);
      } else {
        s.add(seq);
        naive.add(seq);
      }
      const probe = next() % 300;
      const expected = naive.has(probe) ? [...naive].filter((x) => x <= probe).length : null;
      expect(s.rank(probe)).toBe(expected);
    }
    expect(s.size).toBe(naive.size);
  });
});
