import { execFileSync } from 'node:child_process';

import { type ModelCard, modelCardProblem } from '@t2v/contracts';

import type { AppConfig } from '../config/app-config';
import { ConfigError } from '../config/config.schema';
import { cardLaunch } from '../worker-pool/engine-command';

/**
 * The model card of the configured engine and profile, as its worker prints it without loading
 * anything (`--card`, well under a second). What an API with no worker of its own serves until a
 * worker publishes (the API tier on a fresh install, before any GPU pod ran), and what it checks
 * its settings against at boot. The card's values are the worker's; nothing here knows a model.
 * A setting the worker refuses (a bad profile, bad adapter names) stops the boot with its reason.
 */
export function configuredCard(config: AppConfig): ModelCard {
  const { command, env, cwd } = cardLaunch(config);
  let out: string;
  try {
    out = execFileSync(command[0]!, command.slice(1), {
      env,
      cwd,
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const why = (e.stderr ?? '').trim().split('\n').slice(-3).join(' | ') || e.message;
    throw new ConfigError(
      `invalid configuration:\n  the ${config.engine} engine refused to describe its model (${command.join(' ')}): ${why}`,
    );
  }
  let card: unknown;
  try {
    card = JSON.parse(out);
  } catch {
    throw new ConfigError(`invalid configuration:\n  ${command.join(' ')} did not print a model card`);
  }
  const problem = modelCardProblem(card);
  if (problem) throw new ConfigError(`invalid configuration:\n  the ${config.engine} model card: ${problem}`);
  return card as ModelCard;
}
