/**
 * Sequence numbers of the queued jobs, kept sorted in memory by the embedded store (it is the only
 * writer of its file): queue positions and the queued count in O(log n) instead of a COUNT over
 * every job ahead.
 */
export class SortedSeqs {
  private readonly seqs: number[] = [];

  get size(): number {
    return this.seqs.length;
  }

  /** Index of the first element >= seq. */
  private lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(seq: number): void {
    const i = this.lowerBound(seq);
    if (this.seqs[i] !== seq) this.seqs.splice(i, 0, seq);
  }

  remove(seq: number): void {
    const i = this.lowerBound(seq);
    if (this.seqs[i] === seq) this.seqs.splice(i, 1);
  }

  /** 1-based position of `seq`, or null when absent. */
  rank(seq: number): number | null {
    const i = this.lowerBound(seq);
    return this.seqs[i] === seq ? i + 1 : null;
  }

  clear(): void {
    this.seqs.length = 0;
  }
}
