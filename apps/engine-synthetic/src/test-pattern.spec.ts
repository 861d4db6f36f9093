import { createHash } from 'node:crypto';

import { TestPattern } from './test-pattern';

const clipHash = (prompt: string, seed: number, frames = 5): string => {
  const pattern = new TestPattern({ prompt, seed, width: 64, height: 32 });
  const hash = createHash('sha256');
  for (let i = 0; i < frames; i++) hash.update(pattern.renderFrame(i));
  return hash.digest('hex');
};

describe('TestPattern', () => {
  it('renders width*height*3 bytes per frame', () => {
    const pattern = new TestPattern({ prompt: 'p', seed: 1, width: 66, height: 34 });
    expect(pattern.renderFrame(0)).toHaveLength(66 * 34 * 3);
  });

  it('is deterministic for a prompt and seed', () => {
    expect(clipHash('a cat', 7)).toBe(clipHash('a cat', 7));
  });

  it('changes with the seed and with the prompt', () => {
    expect(clipHash('a cat', 7)).not.toBe(clipHash('a cat', 8));
    expect(clipHash('a cat', 7)).not.toBe(clipHash('a dog', 7));
    expect(clipHash('a cat', 2 ** 40)).not.toBe(clipHash('a cat', 2 ** 40 + 1));
  });

  it('moves from frame to frame', () => {
    const pattern = new TestPattern({ prompt: 'a cat', seed: 3, width: 64, height: 32 });
    expect(pattern.renderFrame(0).equals(pattern.renderFrame(1))).toBe(false);
  });

  it('copes with tiny frames', () => {
    const pattern = new TestPattern({ prompt: 'x', seed: 0, width: 2, height: 2 });
    expect(pattern.renderFrame(3)).toHaveLength(12);
  });
});
