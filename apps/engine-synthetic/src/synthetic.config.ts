import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Everything the synthetic worker reads from its environment, validated once at start. */
export interface SyntheticConfig {
  /** Delay per denoising step, standing in for model time. */
  stepMs: number;
  heartbeatIntervalMs: number;
  /** Absolute path (or PATH-resolvable name) of an ffmpeg binary with libx264. */
  ffmpegPath: string;
  /** Adapter names of `T2V_LORAS` (`name=path,…`); the files are not read (no weights here). */
  loras: string[];
}

export class ConfigError extends Error {}

function readNumber(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min)
    throw new ConfigError(`${key} must be a number >= ${min}, got "${raw}"`);
  return value;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * T2V_FFMPEG when set (the API resolves it); else ffmpeg on PATH; else the static binary shipped by
 * @ffmpeg-installer/ffmpeg, so a bare checkout still renders.
 */
export function resolveFfmpeg(env: NodeJS.ProcessEnv): string {
  const explicit = env['T2V_FFMPEG'];
  if (explicit) {
    if (!isExecutable(explicit)) throw new ConfigError(`T2V_FFMPEG=${explicit} is not an executable file`);
    return explicit;
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'ffmpeg'))) return join(dir, 'ffmpeg');
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const installer = require('@ffmpeg-installer/ffmpeg') as { path: string };
    if (isExecutable(installer.path)) return installer.path;
  } catch {
    // fall through to the error below
  }
  throw new ConfigError(
    'no ffmpeg found: set T2V_FFMPEG, put ffmpeg on PATH, or install @ffmpeg-installer/ffmpeg',
  );
}

const LORA_NAME = /^[A-Za-z0-9][\w.-]{0,63}$/;

/**
 * The adapter names of `T2V_LORAS` (`name=path,…`; no file is read: there are no weights), checked
 * as the Python worker checks them: a malformed list is a configuration error naming the entry.
 */
export function loraNames(env: NodeJS.ProcessEnv): string[] {
  const names: string[] = [];
  for (const entry of (env['T2V_LORAS'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const name = eq === -1 ? '' : entry.slice(0, eq).trim();
    if (!LORA_NAME.test(name) || entry.slice(eq + 1).trim() === '') {
      throw new ConfigError(
        `T2V_LORAS: '${entry}' is not <name>=<path> (a name of 1-64 letters, digits, '.', '_' or '-')`,
      );
    }
    if (names.includes(name)) throw new ConfigError(`T2V_LORAS: adapter name '${name}' is given twice`);
    names.push(name);
  }
  return names;
}

export function loadConfig(env: NodeJS.ProcessEnv): SyntheticConfig {
  return {
    stepMs: readNumber(env, 'T2V_SYNTHETIC_STEP_MS', 10, 0),
    heartbeatIntervalMs: readNumber(env, 'T2V_HEARTBEAT_INTERVAL_S', 5, 0.01) * 1000,
    ffmpegPath: resolveFfmpeg(env),
    loras: loraNames(env),
  };
}
