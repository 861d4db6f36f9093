import { framesForSeconds, secondsForFrames, snapFrames, snapSize } from './grid';

describe('snapSize (32-pixel grid, never more pixels than requested)', () => {
  it.each([
    [1280, 720, 1280, 704], // OpenAI landscape → Wan 720p
    [720, 1280, 704, 1280], // OpenAI portrait
    [854, 480, 832, 480], // vLLM-Omni's 480p: 864x480 would have more pixels than asked
    [1280, 704, 1280, 704], // on the grid: unchanged
    [832, 480, 832, 480],
    [1000, 1000, 992, 992],
    [700, 500, 704, 480], // 704x512 has too many pixels; 704x480 is the nearest that fits
    [1920, 1080, 1920, 1056], // snapped; the model's limits are checked afterwards
    [32, 32, 32, 32],
    [47, 47, 32, 32],
    [49, 33, 32, 32], // 64x32 exceeds 49*33=1617 pixels
  ])('%ix%i → %ix%i', (w, h, ew, eh) => {
    expect(snapSize(w, h, 32)).toEqual([ew, eh]);
  });

  it('has no size for a side below one grid cell', () => {
    expect(snapSize(31, 480, 32)).toBeNull();
    expect(snapSize(480, 7, 32)).toBeNull();
  });

  it('always lands on the grid, within budget, with each side within one cell of the request', () => {
    const bad: string[] = [];
    for (let w = 32; w <= 1400; w += 7) {
      for (let h = 32; h <= 1400; h += 11) {
        const [sw, sh] = snapSize(w, h, 32)!;
        const ok =
          sw % 32 === 0 &&
          sh % 32 === 0 &&
          sw * sh <= w * h &&
          Math.abs(sw - w) < 32 &&
          Math.abs(sh - h) < 32;
        if (!ok) bad.push(`${w}x${h} → ${sw}x${sh}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('is the per-side nearest whenever that fits the budget', () => {
    const bad: string[] = [];
    let checked = 0;
    for (let w = 32; w <= 800; w += 5) {
      for (let h = 32; h <= 800; h += 13) {
        const nw = Math.round(w / 32) * 32;
        const nh = Math.round(h / 32) * 32;
        // skip exact ties (x.5 cells): those round down by rule
        if (w % 32 === 16 || h % 32 === 16 || nw * nh > w * h) continue;
        checked++;
        const [sw, sh] = snapSize(w, h, 32)!;
        if (sw !== nw || sh !== nh) bad.push(`${w}x${h} → ${sw}x${sh}, not ${nw}x${nh}`);
      }
    }
    expect(checked).toBeGreaterThan(1000);
    expect(bad).toEqual([]);
  });
});

describe('snapFrames (nearest 4k+1, ties down, as diffusers)', () => {
  it.each([
    [80, 81],
    [81, 81],
    [82, 81],
    [83, 81], // tie between 81 and 85
    [84, 85],
    [79, 77], // tie between 77 and 81
    [16, 17],
    [5, 5],
    [4, 5],
    [3, 1],
  ])('%i → %i', (n, expected) => {
    expect(snapFrames(n)).toBe(expected);
  });

  it("matches diffusers' n // 4 * 4 + 1 for every whole count", () => {
    const bad = Array.from({ length: 500 }, (_, i) => i + 1).filter(
      (n) => snapFrames(n) !== Math.floor(n / 4) * 4 + 1,
    );
    expect(bad).toEqual([]);
  });
});

describe('framesForSeconds', () => {
  it.each([
    [5, 24, 121],
    [1, 24, 25],
    [4, 16, 65],
    [5, 16, 81],
    [1, 30, 29], // 30 intervals: tie between 28 and 32, down
    [1.1, 30, 33],
    [2, 8, 17],
  ])('%s s at %i fps → %i frames', (s, fps, frames) => {
    expect(framesForSeconds(s, fps)).toBe(frames);
  });

  it('reports the duration of a frame count', () => {
    expect(secondsForFrames(121, 24)).toBe('5');
    expect(secondsForFrames(81, 16)).toBe('5');
    expect(secondsForFrames(29, 30)).toBe('0.93');
  });
});
