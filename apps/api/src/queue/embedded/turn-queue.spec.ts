import { TurnQueue } from './turn-queue';

describe('TurnQueue', () => {
  it('orders by turn, ties by id, through requeues and removals, and counts per caller', () => {
    const q = new TurnQueue();
    q.add({ id: 'b', turn: 0, caller: 'x' });
    q.add({ id: 'a', turn: 0, caller: 'y' });
    q.add({ id: 'c', turn: 2, caller: 'x' });
    q.add({ id: 'd', turn: 1, caller: 'x' });
    expect(q.ordered().map((e) => e.id)).toEqual(['a', 'b', 'd', 'c']);
    expect(q.rank('c')).toBe(4);
    expect(q.countOf('x')).toBe(3);
    q.remove('a'); // claimed
    q.remove('d'); // cancelled
    expect(q.rank('c')).toBe(2);
    q.add({ id: 'a', turn: 0, caller: 'y' }); // requeued after a crash: back to its turn
    expect(q.rank('a')).toBe(1);
    q.add({ id: 'a', turn: 0, caller: 'y' }); // idempotent
    expect(q.size).toBe(3);
    expect(q.rank('zz')).toBeNull();
    q.remove('zz'); // absent: no-op
    expect(q.countOf('y')).toBe(1);
    expect(q.countOf('x')).toBe(2);
  });
});
