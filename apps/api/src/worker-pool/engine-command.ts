import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { AppConfig } from '../config/app-config';

/** Repository (or image) root: the same four levels up from src/worker-pool and dist/apps/api/worker-pool. */
const ROOT = path.resolve(__dirname, '../../../..');

export interface EngineLaunch {
  command: string[];
  env: Record<string, string>;
  cwd?: string;
}

/**
 * The synthetic engine is its own project (apps/engine-synthetic). The built API starts its build
 * (`nx run api:build` builds it first); the API running from sources (unit tests) starts its
 * sources, transpiled on the fly, as it does itself.
 */
function syntheticEngineCommand(): string[] {
  if (path.extname(__filename) === '.ts') {
    const source = path.join(ROOT, 'apps/engine-synthetic/src/main.ts');
    return [process.execPath, '-r', '@swc-node/register', source];
  }
  const compiled = path.join(ROOT, 'dist/apps/engine-synthetic/main.js');
  if (!fs.existsSync(compiled))
    throw new Error(`${compiled} is missing: build the synthetic engine (npx nx run engine-synthetic:build)`);
  return [process.execPath, compiled];
}

/**
 * How to start one worker of the configured engine. Engines are processes behind the protocol:
 * the API never imports them.
 */
export function engineLaunch(config: AppConfig, device: string, ffmpeg: string): EngineLaunch {
  // `device`: `cpu`, or the GPU indices of one worker (a group of them with T2V_PARALLEL).
  const env: Record<string, string> = {
    ...config.childEnv,
    T2V_ENGINE: config.engine,
    T2V_HEARTBEAT_INTERVAL_S: String(config.heartbeatIntervalS),
    T2V_FFMPEG: ffmpeg,
    T2V_WARMUP: String(config.warmup),
    T2V_PREVIEW_EVERY_STEPS: String(config.previewEverySteps),
    T2V_PREVIEW_MIN_INTERVAL_S: String(config.previewMinIntervalS),
  };
  if (device === 'cpu') {
    env['CUDA_VISIBLE_DEVICES'] = '';
    env['T2V_WORKER_DEVICE'] = 'cpu';
  } else {
    // T2V_DEVICES counts GPUs as nvidia-smi and DCGM do (by PCI bus id); CUDA's own default
    // order (fastest first) would let index 0 name another card on a mixed node.
    env['CUDA_DEVICE_ORDER'] = 'PCI_BUS_ID';
    env['CUDA_VISIBLE_DEVICES'] = device;
    env['T2V_WORKER_DEVICE'] = 'cuda';
  }
  if (config.workerCommand) return { command: config.workerCommand, env };
  if (config.engine === 'synthetic') {
    env['T2V_SYNTHETIC_STEP_MS'] = String(config.syntheticStepMs);
    return { command: syntheticEngineCommand(), env };
  }
  const workerDir = path.join(ROOT, 'apps/worker');
  env['PYTHONPATH'] = path.join(workerDir, 'src');
  env['PYTHONUNBUFFERED'] = '1';
  env['T2V_CPU_OFFLOAD'] = config.cpuOffload;
  env['T2V_VAE_TILING'] = String(config.vaeTiling);
  env['T2V_STREAM_DECODE'] = String(config.streamDecode);
  env['T2V_VAE_DECODE_BUDGET_MIB'] = config.vaeDecodeBudgetMib;
  env['T2V_TRANSFORMER_WEIGHTS'] = config.transformerWeights;
  if (config.modelPath) env['T2V_MODEL_PATH'] = path.resolve(config.modelPath);
  env['T2V_COMPILE'] = config.compile;
  env['T2V_CACHE'] = config.cache;
  // A group's rank 0 starts the other ranks, one per device of `device` (see T2V_PARALLEL).
  env['T2V_PARALLEL'] = config.parallel;
  if (config.modelProfile) env['T2V_MODEL_PROFILE'] = config.modelProfile;
  if (config.attentionBackend) env['T2V_ATTENTION_BACKEND'] = config.attentionBackend;
  const venvPython = path.join(workerDir, '.venv/bin/python');
  const python = config.python ?? (fs.existsSync(venvPython) ? venvPython : 'python3');
  return { command: [python, '-u', '-m', 't2v_worker'], env, cwd: workerDir };
}

/**
 * How to ask the configured engine for its model card without loading anything (`--card`): the
 * card an API with no worker of its own serves until a worker publishes one. The engine that
 * T2V_ENGINE names, even when T2V_WORKER_COMMAND replaces the workers (a test double).
 */
export function cardLaunch(config: AppConfig): EngineLaunch {
  const launch = engineLaunch({ ...config, workerCommand: undefined }, 'cpu', config.ffmpeg ?? 'ffmpeg');
  return { ...launch, command: [...launch.command, '--card'] };
}

/** ffmpeg for encoders: explicit config, else the system's, else the static one shipped on npm. */
export function resolveFfmpeg(config: AppConfig): string {
  if (config.ffmpeg) return config.ffmpeg;
  for (const dir of (config.childEnv['PATH'] ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'ffmpeg');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      execFileSync(candidate, ['-version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      /* next */
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
}
