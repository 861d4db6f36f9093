/**
 * The model's grids and how requests are snapped onto them (docs/adr/0009-snapping-to-the-model-grid.md).
 *
 * Space: the Wan 2.2 VAE compresses 16× and the transformer patches 2×2 on top, so each side is a
 * multiple of 32. Time: the VAE compresses 4× and keeps the first frame, so a clip has 4k+1 frames.
 */

/** Nearest multiple of `step` to `x`, ties going down. */
function nearestMultiple(x: number, step: number): number {
  return step * Math.ceil(x / step - 0.5);
}

/**
 * Snaps a requested size onto the grid: each side to its nearest multiple of `grid`; when that
 * has more pixels than were requested, the nearest grid size that does not (of the multiples just
 * below and just above each side, the smallest total change of width + height, ties to the larger
 * area). So 1280×720 → 1280×704 and 854×480 → 832×480: never more pixels (memory, time) than
 * asked for. A side shorter than one grid cell cannot be snapped: `null`.
 */
export function snapSize(width: number, height: number, grid: number): [number, number] | null {
  if (width < grid || height < grid) return null;
  const w = nearestMultiple(width, grid);
  const h = nearestMultiple(height, grid);
  const budget = width * height;
  if (w * h <= budget) return [w, h];
  let best: [number, number] | null = null;
  let bestCost = Infinity;
  for (const cw of [Math.floor(width / grid) * grid, Math.ceil(width / grid) * grid]) {
    for (const ch of [Math.floor(height / grid) * grid, Math.ceil(height / grid) * grid]) {
      if (cw * ch > budget) continue;
      const cost = Math.abs(cw - width) + Math.abs(ch - height);
      if (cost < bestCost || (cost === bestCost && best !== null && cw * ch > best[0] * best[1])) {
        best = [cw, ch];
        bestCost = cost;
      }
    }
  }
  // floor × floor always fits (both floors are at least one grid cell here)
  return best;
}

/**
 * Snaps a frame count to the nearest 4k+1, ties going down: 80 → 81, 79 → 77, 83 → 81. For whole
 * counts this is diffusers' own `n // 4 * 4 + 1`.
 */
export function snapFrames(frames: number, step = 4): number {
  return nearestMultiple(frames - 1, step) + 1;
}

/**
 * Frames for a duration: `seconds × fps` intervals, i.e. `seconds × fps + 1` frames, snapped to
 * the nearest 4k+1 (ties down). 5 s at 24 fps = 121 frames; 1 s at 30 fps = 29 frames (0.93 s).
 */
export function framesForSeconds(seconds: number, fps: number, step = 4): number {
  // Rounded to 1e-9 so that 1.1 × 30 = 33.000000000000004 counts as the 33 it means.
  const intervals = Math.round(seconds * fps * 1e9) / 1e9;
  return snapFrames(intervals + 1, step);
}

/** Duration of `frames` at `fps` ((frames − 1) / fps), two decimals, as the API reports it. */
export function secondsForFrames(frames: number, fps: number): string {
  const s = (frames - 1) / fps;
  return String(Math.round(s * 100) / 100);
}
