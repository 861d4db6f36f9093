import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ModelCard } from '@t2v/contracts';

import { WORKSPACE_ROOT } from './workspace-root.js';

/** The golden model cards (libs/contracts/fixtures/card/valid.jsonl), shared with the worker's tests. */
const CARDS = join(WORKSPACE_ROOT, 'libs/contracts/fixtures/card/valid.jsonl');

/**
 * A golden card by its model id: `Wan2.2-TI2V-5B` (as the wan worker describes it by default),
 * `FastWan2.2-TI2V-5B` (a distilled checkpoint's profile, adapters, every acceleration),
 * `wan-tiny-random`. The worker's tests check the first against what the worker builds.
 */
export function goldenCard(id: string): ModelCard {
  for (const line of readFileSync(CARDS, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const { card } = JSON.parse(line) as { card: ModelCard };
    if (card.id === id) return structuredClone(card);
  }
  throw new Error(`no golden card with id ${id} in ${CARDS}`);
}
