import * as fs from 'node:fs';
import * as path from 'node:path';

import { TRANSFORMER_WEIGHTS } from '@t2v/contracts';
import { z } from 'zod';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/**
 * Every environment variable the API reads, validated once at boot. Nothing else reads
 * `process.env`: a bad value stops the process with a message naming the variable.
 */
const envSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  T2V_ROLE: z.enum(['all', 'api', 'gpu']).default('all'),
  T2V_ENGINE: z.enum(['synthetic', 'wan-tiny', 'wan']).default('synthetic'),
  T2V_MODEL_PATH: z.string().min(1).optional(),
  T2V_DEVICES: z
    .string()
    .regex(/^(cpu|\d+(,\d+)*)$/, 'expected "cpu" or GPU indices such as "0,1"')
    .default('cpu'),
  T2V_CPU_WORKERS: int(1, 64).default(1),
  T2V_PARALLEL: z
    .string()
    .trim()
    .regex(
      /^(off|cfg|ulysses:[2-8]|cfg\+ulysses:[2-8])$/,
      'must be off, cfg, ulysses:<N in 2..8> or cfg+ulysses:<N in 2..8>',
    )
    .default('off'),
  T2V_QUEUE: z.enum(['embedded', 'redis']).default('embedded'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/\S+$/, 'expected a redis:// or rediss:// URL, e.g. redis://:password@redis:6379/0')
    .optional(),
  T2V_REDIS_PREFIX: z
    .string()
    .regex(/^[\w.-]{1,64}$/, 'expected letters, digits, ".", "_" or "-"')
    .default('t2v'),
  T2V_REDIS_LOCK_S: z.coerce.number().min(1).max(600).default(15),
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS: bool.default(false),
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  REDIS_SENTINELS: z
    .string()
    .regex(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, 'expected host:port[,host:port…]')
    .optional(),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[\w.-]{1,128}$/, 'expected the name the sentinels monitor, e.g. mymaster')
    .optional(),
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  T2V_REDIS_DURABILITY: z.enum(['primary', 'replicas', 'fsync']).optional(),
  T2V_REDIS_WAIT_REPLICAS: int(1, 16).default(1),
  T2V_REDIS_WAIT_TIMEOUT_MS: int(10, 10_000).default(500),
  T2V_DATA_DIR: z.string().min(1).default('./data'),
  T2V_STORAGE_DIR: z.string().min(1).optional(),
  T2V_STORAGE_URL: z
    .string()
    .trim()
    .regex(
      /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\s]*)?$/,
      'expected s3://<bucket>[/<prefix>] (unset: the output directory, T2V_STORAGE_DIR)',
    )
    .optional(),
  T2V_S3_ENDPOINT: z.string().url('expected the S3 endpoint URL, e.g. http://seaweedfs:8333').optional(),
  T2V_S3_PUBLIC_ENDPOINT: z
    .string()
    .url('expected the endpoint clients reach, e.g. https://media.example.com')
    .optional(),
  T2V_S3_REGION: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
  T2V_S3_FORCE_PATH_STYLE: bool.default(false),
  T2V_STORAGE_DOWNLOAD: z.enum(['redirect', 'proxy']).default('redirect'),
  T2V_STORAGE_URL_TTL_S: int(10, 7 * 24 * 3600).default(300),
  T2V_STORAGE_PART_MB: int(5, 5120).default(16),
  T2V_STORAGE_RETRIES: int(1, 20).default(5),
  T2V_STORAGE_RETRY_MS: int(10, 60_000).default(1000),
  T2V_S3_TIMEOUT_S: z.coerce.number().positive().max(3600).default(60),
  T2V_MAX_QUEUE: int(1, 1_000_000).default(100),
  T2V_API_KEYS: z.string().optional(),
  T2V_OUTPUT_TTL_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 365)
    .default(168),
  T2V_SYNTHETIC_STEP_MS: int(0, 60_000).default(10),
  T2V_PREVIEW_EVERY_STEPS: int(0, 1000).default(2),
  T2V_PREVIEW_MIN_INTERVAL_S: z.coerce.number().min(0).max(3600).default(1),
  T2V_PREVIEW_MEMORY_MB: int(1, 4096).default(64),
  T2V_MAX_PROMPT_LENGTH: int(1, 100_000).default(2000),
  T2V_MAX_BODY_BYTES: int(1024, 100 * 1024 * 1024).default(1024 * 1024),
  T2V_MAX_IMAGE_BYTES: int(1024, 100 * 1024 * 1024).default(10 * 1024 * 1024),
  T2V_MAX_IMAGE_PIXELS: int(64 * 64, 268_402_689).default(50_000_000),
  T2V_LORAS: z.string().optional(),
  T2V_MAX_WAIT_S: int(0, 3600).default(600),
  T2V_SYNC_WAIT_S: int(0, 3600).default(120),
  T2V_HEARTBEAT_INTERVAL_S: z.coerce.number().positive().max(3600).default(5),
  T2V_HEARTBEAT_TIMEOUT_S: z.coerce.number().positive().max(3600).default(30),
  T2V_WORKER_STARTUP_TIMEOUT_S: z.coerce.number().positive().max(7200).optional(),
  T2V_WORKER_COMMAND: z
    .string()
    .transform((s, ctx) => {
      try {
        const v: unknown = JSON.parse(s);
        if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
      } catch {
        /* reported below */
      }
      ctx.addIssue({
        code: 'custom',
        message: 'expected a JSON array of strings, e.g. ["node","worker.js"]',
      });
      return z.NEVER;
    })
    .optional(),
  T2V_PYTHON: z.string().min(1).optional(),
  T2V_FFMPEG: z.string().min(1).optional(),
  T2V_CPU_OFFLOAD: z.enum(['none', 'model', 'sequential']).default('none'),
  T2V_VAE_TILING: bool.default(false),
  T2V_STREAM_DECODE: bool.default(true),
  T2V_VAE_DECODE_BUDGET_MIB: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^(auto|[1-9]\d{0,8})$/, 'must be auto or a positive number of MiB, e.g. 20000')
    .default('auto'),
  T2V_TRANSFORMER_WEIGHTS: z.enum(TRANSFORMER_WEIGHTS).default('bf16'),
  T2V_WARMUP: bool.default(false),
  T2V_COMPILE: z.enum(['off', 'blocks']).default('off'),
  T2V_CACHE: z
    .string()
    .trim()
    .regex(
      /^(off|first-block:(0?\.\d*[1-9]\d*|1(\.0*)?))$/,
      'must be off or first-block:<threshold in (0, 1]>, e.g. first-block:0.05',
    )
    .default('off'),
  T2V_MODEL_PROFILE: z.string().min(1).optional(),
  T2V_MAX_PIXEL_FRAMES: int(1, 1e12).optional(),
  T2V_ATTENTION_BACKEND: z
    .string()
    .trim()
    .regex(/^[a-z0-9_]+$/, 'must be a diffusers attention backend name, e.g. flash, _native_cudnn, native')
    .optional(),
  T2V_EXPIRY_SWEEP_S: z.coerce.number().positive().max(86_400).default(60),
  T2V_DRAIN_DELAY_S: z.coerce.number().min(0).max(600).default(0),
  T2V_SHUTDOWN_GRACE_S: z.coerce.number().min(0).max(86_400).default(30),
  T2V_JOB_STALL_TIMEOUT_S: z.coerce.number().positive().max(86_400).optional(),
  T2V_JOB_TIMEOUT_S: z.coerce.number().min(0).max(86_400).default(0),
  T2V_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]{22,}$/, 'expected whsec_<base64 of at least 16 bytes>')
    .optional(),
  T2V_WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  T2V_WEBHOOK_MAX_ATTEMPTS: int(1, 20).default(6),
  T2V_CORS_ORIGINS: z.string().optional(),
  T2V_API_KEYS_FILE: z.string().min(1).optional(),
  T2V_JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
  T2V_JWT_ISSUER: z.string().min(1).optional(),
  T2V_JWT_AUDIENCE: z.string().min(1).optional(),
  T2V_JWT_ALGORITHMS: z
    .string()
    .regex(
      /^\s*(?:(?:RS|PS|ES)(?:256|384|512)|EdDSA)\s*(?:,\s*(?:(?:RS|PS|ES)(?:256|384|512)|EdDSA)\s*)*$/,
      'expected signature algorithms of public keys, e.g. RS256 or RS256,ES256 (RS*, PS*, ES*, EdDSA)',
    )
    .default('RS256'),
  T2V_RATE_LIMIT_PER_MIN: int(0, 1_000_000).default(0),
  T2V_PARAM_HANDLING: z.enum(['lenient', 'strict']).default('lenient'),
  T2V_MODEL_ALIASES: z.string().optional(),
});

export type Env = z.infer<typeof envSchema>;

/**
 * Where Redis is and how to reach it: `REDIS_URL`, or `REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`;
 * ACL user/password (`REDIS_USERNAME`/`REDIS_PASSWORD` override the URL's), TLS (`rediss://` or
 * `REDIS_TLS=true`) verified against `REDIS_TLS_CA_FILE` when set.
 */
export interface RedisEndpoint {
  url?: string;
  sentinels?: Array<{ host: string; port: number }>;
  sentinelName?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  username?: string;
  password?: string;
  tls?: boolean;
  /** The CA bundle's PEM text (read at boot). */
  tlsCa?: string;
}

/**
 * When a create (and every terminal change) is acknowledged:
 * - `primary`: once the primary has applied it (lost if the primary dies before it persisted or
 *   replicated it);
 * - `replicas`: once `replicas` replicas confirm it (`WAIT`), else 503 after `timeoutMs`;
 * - `fsync`: the primary runs AOF with `appendfsync always` (checked by readiness).
 */
export interface RedisDurability {
  rule: 'primary' | 'replicas' | 'fsync';
  replicas: number;
  timeoutMs: number;
}

/** The validated configuration, with paths resolved and derived values computed. */
export interface AppConfig {
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  /**
   * `all`: one process is the API and runs the workers (the default); `api`: the API tier (no
   * workers: accepts, reads, streams, delivers webhooks); `gpu`: the GPU tier (runs workers, takes
   * jobs from the shared queue, serves health, readiness and metrics only).
   */
  role: Env['T2V_ROLE'];
  engine: Env['T2V_ENGINE'];
  modelPath: string | undefined;
  /**
   * One entry per worker: `cpu`, or the GPU indices of its group (`0` or, with T2V_PARALLEL, `0,1`).
   * Empty in the API tier, which runs none.
   */
  devices: string[];
  /** T2V_PARALLEL: how one job spreads over a worker group, and the group's size (devices). */
  parallel: string;
  groupSize: number;
  queue: Env['T2V_QUEUE'];
  /** Where Redis is (URL or Sentinel), its credentials and TLS; set when `queue` is `redis`. */
  redis: RedisEndpoint | undefined;
  /** When a change counts as acknowledged (docs/adr/0041-redis-high-availability.md). */
  redisDurability: RedisDurability;
  /** Prefix of every Redis key t2v writes (records and the BullMQ queue). */
  redisPrefix: string;
  /** BullMQ lock of a running job; a replica silent this long loses its job to another. */
  redisLockS: number;
  dataDir: string;
  /** Where workers write outputs: the shared output directory, or scratch with a bucket. */
  storageDir: string;
  /** Where outputs live once a job is done: the output directory, or a bucket (docs/adr/0070-object-storage.md). */
  storage: StorageSettings;
  maxQueue: number;
  /** The keys themselves (plain or `sha256:<hex>`), in the order of `keyPolicies`. */
  apiKeys: string[];
  /** What each key of `apiKeys` says besides the key: its name, scopes, fair-queue weight and caps. */
  keyPolicies: KeyPolicy[];
  outputTtlHours: number;
  syntheticStepMs: number;
  /** Live previews: one every this many denoising steps (0: none), at least this far apart. */
  previewEverySteps: number;
  previewMinIntervalS: number;
  /** Memory held by the latest previews of running jobs, in bytes (oldest dropped first). */
  previewMemoryBytes: number;
  maxPromptLength: number;
  /** Limit of a create body's fields (JSON or multipart text), without an image. */
  maxBodyBytes: number;
  /** Largest `input_reference` image, in bytes as uploaded (decoded, for a data: URL). */
  maxImageBytes: number;
  /** Largest `input_reference` image, in pixels from its header (refused before decoding). */
  maxImagePixels: number;
  maxWaitS: number;
  syncWaitS: number;
  heartbeatIntervalS: number;
  heartbeatTimeoutS: number;
  workerStartupTimeoutS: number;
  workerCommand: string[] | undefined;
  python: string | undefined;
  ffmpeg: string | undefined;
  cpuOffload: Env['T2V_CPU_OFFLOAD'];
  vaeTiling: boolean;
  /** The VAE decodes one latent frame at a time straight into ffmpeg (ADR 0085); false: whole, then encode. */
  streamDecode: boolean;
  /** `auto` or MiB: a job whose decode is estimated above it decodes in tiles (ADR 0086). */
  vaeDecodeBudgetMib: string;
  /** The transformer's weights: `bf16` (the checkpoint's own) or `fp8` (torchao float8, ADR 0087). */
  transformerWeights: Env['T2V_TRANSFORMER_WEIGHTS'];
  warmup: boolean;
  /** `blocks`: the repeated transformer block is compiled once (torch.compile) and reused. */
  compile: Env['T2V_COMPILE'];
  /** Step cache of the wan engines: `off` or `first-block:<threshold>`. */
  cache: string;
  /** Unset: picked on a GPU (fastest that loads), diffusers' default on CPU. */
  attentionBackend: string | undefined;
  /** T2V_MODEL_PROFILE, absolute; the worker reads it (and otherwise the profile beside the weights). */
  modelProfile: string | undefined;
  /** Refuse (400) jobs whose width × height × frames exceed this (per-GPU memory budget). */
  maxPixelFrames: number | undefined;
  expirySweepS: number;
  drainDelayS: number;
  shutdownGraceS: number;
  /** A running job with no progress for this long has a hung worker: it is killed and the job retried. */
  jobStallTimeoutS: number;
  /**
   * The longest a job may run on a worker; a longer run is stopped (its worker restarted) and the job
   * fails WORKER_TIMEOUT. 0: no limit. A GPU pod's termination grace period must cover it.
   */
  jobTimeoutS: number;
  webhookSecret: string | undefined;
  webhookAllowPrivate: boolean;
  webhookMaxAttempts: number;
  /** Origins allowed by CORS (`*` for any); empty: no CORS headers. */
  corsOrigins: string[];
  /**
   * OIDC JWT validation (all three set together), besides or instead of API keys; a token must be
   * signed with one of `algorithms` and name its subject (`sub`).
   */
  jwt: { jwksUrl: string; issuer: string; audience: string; algorithms: string[] } | null;
  /** Requests per minute per API key / token subject / `user` / client address; 0 = no limit. */
  rateLimitPerMin: number;
  /**
   * `lenient`: sizes and frame counts off the model's grid are snapped to it (and reported);
   * `strict`: they are a 400. A request's `Prefer: handling=…` overrides it.
   */
  paramHandling: Env['T2V_PARAM_HANDLING'];
  /** Other names requests may use for the loaded model (e.g. `sora-2`), and the id each names (null: whichever model is loaded). */
  modelAliases: ModelAlias[];
  /** Environment handed to worker processes: the API's own, less its secrets. */
  childEnv: Record<string, string>;
}

/**
 * Variables that hold credentials or identity-provider settings: never handed to workers, and
 * the chart sets them from Secrets only (its tests check every scenario against this list).
 */
export const SECRET_VARS = new Set([
  'T2V_API_KEYS',
  'REDIS_URL',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
  'T2V_WEBHOOK_SECRET',
  'T2V_JWT_JWKS_URL',
  'T2V_JWT_ISSUER',
  'T2V_JWT_AUDIENCE',
  'AWS_SECRET_ACCESS_KEY',
]);

/** `T2V_MODEL_ALIASES` entry: `sora-2` (whatever model is loaded) or `sora-2=<model id>`. */
export interface ModelAlias {
  name: string;
  target: string | null;
}

/** The credential values of a configuration, which no log line may show (logging/logger.ts). */
export function secretValues(config: AppConfig): string[] {
  const values = config.apiKeys.filter((k) => !k.startsWith('sha256:'));
  if (config.webhookSecret) values.push(config.webhookSecret, config.webhookSecret.replace(/^whsec_/, ''));
  const redis = config.redis;
  for (const v of [redis?.password, redis?.sentinelPassword]) if (v) values.push(v);
  if (redis?.url) {
    const password = URL.canParse(redis.url) ? new URL(redis.url).password : '';
    if (password) values.push(password, decodeURIComponent(password));
  }
  return values;
}

export class ConfigError extends Error {}

/**
 * An API key entry's attributes: `<key> name=<name> weight=<n> max_queued=<n> max_running=<n>
 * scopes=admin`, each optional, separated by spaces (docs/waiting.md). A named key's jobs are
 * queued and metered as `key:<name>`; an unnamed key's as `key:<first 16 hex of its digest>`.
 */
export interface KeyPolicy {
  name: string | null;
  weight: number;
  maxQueued: number | null;
  maxRunning: number | null;
  /** `admin`: may read usage (GET /v1/usage). */
  scopes: string[];
}

const KEY_ATTRIBUTES = ['name', 'weight', 'max_queued', 'max_running', 'scopes'] as const;

/** Splits one `T2V_API_KEYS` / `T2V_API_KEYS_FILE` entry into its key and attributes. */
export function parseKeyEntry(entry: string, source: string): { key: string; policy: KeyPolicy } {
  const [key, ...attrs] = entry.split(/\s+/);
  const policy: KeyPolicy = { name: null, weight: 1, maxQueued: null, maxRunning: null, scopes: [] };
  const bad = (why: string) =>
    new ConfigError(`invalid configuration:\n  ${source}: the entry of key ${key!.slice(0, 4)}…: ${why}`);
  for (const attr of attrs) {
    const m = /^([a-z_]+)=(.+)$/.exec(attr);
    const name = m?.[1] as (typeof KEY_ATTRIBUTES)[number] | undefined;
    if (!m || !name || !KEY_ATTRIBUTES.includes(name)) {
      throw bad(`"${attr.split('=')[0]}" is not an attribute (accepted: ${KEY_ATTRIBUTES.join(', ')})`);
    }
    const value = m[2]!;
    if (name === 'name') {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(value)) throw bad('name must be 1-64 of A-Z a-z 0-9 . _ -');
      policy.name = value;
    } else if (name === 'scopes') {
      const scopes = value.split('+');
      const unknown = scopes.find((sc) => sc !== 'admin');
      if (unknown) throw bad(`scope "${unknown}" is unknown (accepted: admin)`);
      policy.scopes = scopes;
    } else {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
        throw bad(`${name} must be a whole number from 1 to 1000000`);
      if (name === 'weight') policy.weight = n;
      else if (name === 'max_queued') policy.maxQueued = n;
      else policy.maxRunning = n;
    }
  }
  return { key: key!, policy };
}

/** Validates `env` and derives the app config. Throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const known = Object.fromEntries(
    Object.keys(envSchema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]),
  );
  const parsed = envSchema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const accepted = issue.code === 'invalid_value' ? ` (accepted: ${issue.values.join(', ')})` : '';
      return `${name}=${JSON.stringify(env[name])}: ${issue.message}${accepted}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.T2V_ENGINE === 'wan' && !e.T2V_MODEL_PATH) {
    throw new ConfigError('invalid configuration:\n  T2V_MODEL_PATH: required when T2V_ENGINE=wan');
  }
  const redis = redisEndpoint(e);
  const jwtVars = [e.T2V_JWT_JWKS_URL, e.T2V_JWT_ISSUER, e.T2V_JWT_AUDIENCE];
  if (jwtVars.some((v) => v !== undefined) && !jwtVars.every((v) => v !== undefined)) {
    throw new ConfigError(
      'invalid configuration:\n  T2V_JWT_JWKS_URL, T2V_JWT_ISSUER, T2V_JWT_AUDIENCE: set all three or none',
    );
  }
  const modelAliases = parseAliases(e.T2V_MODEL_ALIASES ?? '');
  if (e.T2V_ROLE !== 'all' && e.T2V_QUEUE !== 'redis') {
    throw new ConfigError(
      `invalid configuration:\n  T2V_ROLE=${e.T2V_ROLE}: the API and GPU tiers share jobs through Redis; set T2V_QUEUE=redis (T2V_ROLE=all runs both in one process)`,
    );
  }
  let fileKeys: string[] = [];
  if (e.T2V_API_KEYS_FILE) {
    try {
      fileKeys = fs.readFileSync(e.T2V_API_KEYS_FILE, 'utf8').split(/\r?\n/);
    } catch (err) {
      throw new ConfigError(
        `invalid configuration:\n  T2V_API_KEYS_FILE=${JSON.stringify(e.T2V_API_KEYS_FILE)}: ${(err as Error).message}`,
      );
    }
  }
  if (e.T2V_ENGINE === 'synthetic' && e.T2V_MODEL_PROFILE) {
    throw new ConfigError(
      'invalid configuration:\n  T2V_MODEL_PROFILE: only the wan and wan-tiny engines use a profile',
    );
  }
  if (e.T2V_TRANSFORMER_WEIGHTS === 'fp8') {
    const why =
      e.T2V_ENGINE === 'synthetic'
        ? 'applies to the wan and wan-tiny engines only'
        : e.T2V_DEVICES === 'cpu' && e.T2V_ROLE !== 'api'
          ? 'float8 matmuls need a CUDA GPU of compute capability 8.9 or newer, and T2V_DEVICES=cpu runs on the CPU'
          : e.T2V_LORAS
            ? 'cannot be combined with T2V_LORAS: the adapters wrap the linear layers that fp8 replaces'
            : null;
    if (why) throw new ConfigError(`invalid configuration:\n  T2V_TRANSFORMER_WEIGHTS=fp8: ${why}`);
  }
  const dataDir = path.resolve(e.T2V_DATA_DIR);
  const groupSize = parallelGroupSize(e.T2V_PARALLEL);
  if (groupSize > 1 && e.T2V_ENGINE === 'synthetic')
    throw new ConfigError(
      `invalid configuration:\n  T2V_PARALLEL=${JSON.stringify(e.T2V_PARALLEL)}: applies to the wan and wan-tiny engines only`,
    );
  const devices =
    e.T2V_DEVICES === 'cpu'
      ? Array.from({ length: e.T2V_CPU_WORKERS }, () => 'cpu')
      : groupDevices(e.T2V_DEVICES.split(','), groupSize, e.T2V_PARALLEL);
  return {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    role: e.T2V_ROLE,
    engine: e.T2V_ENGINE,
    modelPath: e.T2V_MODEL_PATH,
    devices: e.T2V_ROLE === 'api' ? [] : devices,
    parallel: e.T2V_PARALLEL,
    groupSize,
    queue: e.T2V_QUEUE,
    redis,
    redisDurability: {
      rule: e.T2V_REDIS_DURABILITY ?? (e.REDIS_SENTINELS ? 'replicas' : 'primary'),
      replicas: e.T2V_REDIS_WAIT_REPLICAS,
      timeoutMs: e.T2V_REDIS_WAIT_TIMEOUT_MS,
    },
    redisPrefix: e.T2V_REDIS_PREFIX,
    redisLockS: e.T2V_REDIS_LOCK_S,
    dataDir,
    storageDir: path.resolve(e.T2V_STORAGE_DIR ?? path.join(dataDir, 'videos')),
    storage: storageSettings(e),
    maxQueue: e.T2V_MAX_QUEUE,
    ...keyEntries(e.T2V_API_KEYS ?? '', fileKeys),
    jwt:
      e.T2V_JWT_JWKS_URL && e.T2V_JWT_ISSUER && e.T2V_JWT_AUDIENCE
        ? {
            jwksUrl: e.T2V_JWT_JWKS_URL,
            issuer: e.T2V_JWT_ISSUER,
            audience: e.T2V_JWT_AUDIENCE,
            algorithms: e.T2V_JWT_ALGORITHMS.split(',').map((a) => a.trim()),
          }
        : null,
    rateLimitPerMin: e.T2V_RATE_LIMIT_PER_MIN,
    paramHandling: e.T2V_PARAM_HANDLING,
    modelAliases,
    outputTtlHours: e.T2V_OUTPUT_TTL_HOURS,
    syntheticStepMs: e.T2V_SYNTHETIC_STEP_MS,
    previewEverySteps: e.T2V_PREVIEW_EVERY_STEPS,
    previewMinIntervalS: e.T2V_PREVIEW_MIN_INTERVAL_S,
    previewMemoryBytes: e.T2V_PREVIEW_MEMORY_MB * 1024 * 1024,
    maxPromptLength: e.T2V_MAX_PROMPT_LENGTH,
    maxBodyBytes: e.T2V_MAX_BODY_BYTES,
    maxImageBytes: e.T2V_MAX_IMAGE_BYTES,
    maxImagePixels: e.T2V_MAX_IMAGE_PIXELS,
    maxWaitS: e.T2V_MAX_WAIT_S,
    syncWaitS: e.T2V_SYNC_WAIT_S,
    heartbeatIntervalS: e.T2V_HEARTBEAT_INTERVAL_S,
    heartbeatTimeoutS: e.T2V_HEARTBEAT_TIMEOUT_S,
    workerStartupTimeoutS: e.T2V_WORKER_STARTUP_TIMEOUT_S ?? (e.T2V_ENGINE === 'wan' ? 1800 : 120),
    workerCommand: e.T2V_WORKER_COMMAND,
    python: e.T2V_PYTHON,
    ffmpeg: e.T2V_FFMPEG,
    cpuOffload: e.T2V_CPU_OFFLOAD,
    vaeTiling: e.T2V_VAE_TILING,
    streamDecode: e.T2V_STREAM_DECODE,
    vaeDecodeBudgetMib: e.T2V_VAE_DECODE_BUDGET_MIB,
    transformerWeights: e.T2V_TRANSFORMER_WEIGHTS,
    warmup: e.T2V_WARMUP,
    compile: e.T2V_COMPILE,
    cache: e.T2V_CACHE,
    attentionBackend: e.T2V_ATTENTION_BACKEND,
    modelProfile: e.T2V_MODEL_PROFILE ? path.resolve(e.T2V_MODEL_PROFILE) : undefined,
    maxPixelFrames: e.T2V_MAX_PIXEL_FRAMES,
    expirySweepS: e.T2V_EXPIRY_SWEEP_S,
    drainDelayS: e.T2V_DRAIN_DELAY_S,
    shutdownGraceS: e.T2V_SHUTDOWN_GRACE_S,
    jobStallTimeoutS: e.T2V_JOB_STALL_TIMEOUT_S ?? (e.T2V_ENGINE === 'wan' ? 1800 : 300),
    jobTimeoutS: e.T2V_JOB_TIMEOUT_S,
    webhookSecret: e.T2V_WEBHOOK_SECRET,
    webhookAllowPrivate: e.T2V_WEBHOOK_ALLOW_PRIVATE,
    webhookMaxAttempts: e.T2V_WEBHOOK_MAX_ATTEMPTS,
    corsOrigins: (e.T2V_CORS_ORIGINS ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    childEnv: Object.fromEntries(
      Object.entries(env).filter(
        (kv): kv is [string, string] => kv[1] !== undefined && !SECRET_VARS.has(kv[0]),
      ),
    ),
  };
}

export type StorageSettings = { kind: 'filesystem' } | S3Settings;

/** `T2V_STORAGE_URL=s3://bucket/prefix` and the settings of that bucket. */
export interface S3Settings {
  kind: 's3';
  bucket: string;
  /** Key prefix, empty or ending in `/`. */
  prefix: string;
  /** Unset: AWS S3 itself. */
  endpoint: string | undefined;
  /** The endpoint presigned URLs name, when clients reach the bucket by another address. */
  publicEndpoint: string | undefined;
  region: string;
  forcePathStyle: boolean;
  /** How content is served: a 302 to a presigned URL, or streamed through the API. */
  download: 'redirect' | 'proxy';
  urlTtlS: number;
  /** Largest single PUT, and the size of each part above it. */
  partBytes: number;
  /** Upload attempts of a finished job's files, and the first wait between them (doubling). */
  retries: number;
  retryMs: number;
  timeoutS: number;
}

const S3_ONLY = ['T2V_S3_ENDPOINT', 'T2V_S3_PUBLIC_ENDPOINT', 'T2V_S3_REGION'] as const;

/** Where outputs live: the output directory (T2V_STORAGE_URL unset) or an S3-compatible bucket. */
function storageSettings(e: Env): StorageSettings {
  const url = e.T2V_STORAGE_URL;
  if (!url) {
    const stray = S3_ONLY.filter((name) => e[name] !== undefined);
    if (stray.length > 0)
      throw new ConfigError(
        `invalid configuration:\n  ${stray.join(', ')}: apply to a bucket only; set T2V_STORAGE_URL=s3://<bucket>[/<prefix>] too`,
      );
    return { kind: 'filesystem' };
  }
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  return {
    kind: 's3',
    bucket,
    prefix: path ? `${path}/` : '',
    endpoint: e.T2V_S3_ENDPOINT,
    publicEndpoint: e.T2V_S3_PUBLIC_ENDPOINT,
    region: e.T2V_S3_REGION ?? e.AWS_REGION ?? 'us-east-1',
    forcePathStyle: e.T2V_S3_FORCE_PATH_STYLE,
    download: e.T2V_STORAGE_DOWNLOAD,
    urlTtlS: e.T2V_STORAGE_URL_TTL_S,
    partBytes: e.T2V_STORAGE_PART_MB * 2 ** 20,
    retries: e.T2V_STORAGE_RETRIES,
    retryMs: e.T2V_STORAGE_RETRY_MS,
    timeoutS: e.T2V_S3_TIMEOUT_S,
  };
}

/** Devices one job runs on: 2 for `cfg`, N for `ulysses:N`, 2N for `cfg+ulysses:N`. */
export function parallelGroupSize(parallel: string): number {
  if (parallel === 'off') return 1;
  const ulysses = /ulysses:(\d+)/.exec(parallel);
  return (parallel.startsWith('cfg') ? 2 : 1) * (ulysses ? Number(ulysses[1]) : 1);
}

/**
 * GPU indices → one entry per worker group, in order: `0,1,2,3` with groups of 2 is `0,1` and
 * `2,3`. A list that does not split into whole groups is a boot error.
 */
export function groupDevices(gpus: string[], groupSize: number, parallel: string): string[] {
  if (gpus.length % groupSize !== 0)
    throw new ConfigError(
      `invalid configuration:\n  T2V_DEVICES=${JSON.stringify(gpus.join(','))}: ${gpus.length} GPU(s) do not ` +
        `form whole groups of ${groupSize} for T2V_PARALLEL=${JSON.stringify(parallel)}; list a multiple of ${groupSize}`,
    );
  const groups: string[] = [];
  for (let i = 0; i < gpus.length; i += groupSize) groups.push(gpus.slice(i, i + groupSize).join(','));
  return groups;
}

/** The Redis endpoint of `T2V_QUEUE=redis`: exactly one of REDIS_URL and REDIS_SENTINELS. */
function redisEndpoint(e: Env): RedisEndpoint | undefined {
  const bad = (line: string) => new ConfigError(`invalid configuration:\n  ${line}`);
  if (e.T2V_QUEUE !== 'redis') return undefined;
  if (!e.REDIS_URL && !e.REDIS_SENTINELS) {
    throw bad('REDIS_URL: required when T2V_QUEUE=redis (or REDIS_SENTINELS with REDIS_SENTINEL_NAME)');
  }
  if (e.REDIS_URL && e.REDIS_SENTINELS) {
    throw bad('REDIS_URL, REDIS_SENTINELS: set one of them (the sentinels name the primary)');
  }
  if (e.REDIS_SENTINELS && !e.REDIS_SENTINEL_NAME) {
    throw bad('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the name the sentinels monitor)');
  }
  let tlsCa: string | undefined;
  if (e.REDIS_TLS_CA_FILE) {
    try {
      tlsCa = fs.readFileSync(e.REDIS_TLS_CA_FILE, 'utf8');
    } catch (err) {
      throw bad(`REDIS_TLS_CA_FILE=${JSON.stringify(e.REDIS_TLS_CA_FILE)}: ${(err as Error).message}`);
    }
    if (!/-----BEGIN CERTIFICATE-----/.test(tlsCa)) {
      throw bad(`REDIS_TLS_CA_FILE=${JSON.stringify(e.REDIS_TLS_CA_FILE)}: expected PEM certificates`);
    }
    if (!e.REDIS_TLS && !e.REDIS_URL?.startsWith('rediss://')) {
      throw bad('REDIS_TLS_CA_FILE: set, but TLS is off (use a rediss:// URL or REDIS_TLS=true)');
    }
  }
  const sentinels = e.REDIS_SENTINELS?.split(',').map((s) => {
    const [host, port] = s.trim().split(':');
    return { host: host!, port: Number(port) };
  });
  return {
    ...(e.REDIS_URL ? { url: e.REDIS_URL } : {}),
    ...(sentinels ? { sentinels, sentinelName: e.REDIS_SENTINEL_NAME } : {}),
    ...(e.REDIS_SENTINEL_USERNAME ? { sentinelUsername: e.REDIS_SENTINEL_USERNAME } : {}),
    ...(e.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: e.REDIS_SENTINEL_PASSWORD } : {}),
    ...(e.REDIS_USERNAME ? { username: e.REDIS_USERNAME } : {}),
    ...(e.REDIS_PASSWORD ? { password: e.REDIS_PASSWORD } : {}),
    ...(e.REDIS_TLS ? { tls: true } : {}),
    ...(tlsCa ? { tlsCa } : {}),
  };
}

const ALIAS = /^[A-Za-z0-9][\w.:-]{0,63}$/;

/**
 * `T2V_MODEL_ALIASES`: comma-separated `name=<model id>` (or a bare `name`, meaning the loaded
 * model). Checked here for form; a target other than the id of the model the workers serve is
 * refused when the model card is known (at boot, from the configured card).
 */
function parseAliases(value: string): ModelAlias[] {
  const aliases: ModelAlias[] = [];
  const problems: string[] = [];
  for (const entry of value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name = '', target, ...rest] = entry.split('=').map((s) => s.trim());
    if (!ALIAS.test(name) || rest.length > 0 || target === '') {
      problems.push(
        `'${entry}': expected name or name=<model id> (a name of letters, digits, '.', '_', ':' or '-')`,
      );
    } else if (aliases.some((a) => a.name === name)) {
      problems.push(`'${entry}': ${name} is given twice`);
    } else {
      aliases.push({ name, target: target ?? null });
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  T2V_MODEL_ALIASES: ${problems.join('; ')}`);
  }
  return aliases;
}

/** The configured keys and their attributes; two keys may not share a name. */
function keyEntries(fromEnv: string, fromFile: string[]): Pick<AppConfig, 'apiKeys' | 'keyPolicies'> {
  const entries = [
    ...fromEnv.split(',').map((entry) => ({ entry, source: 'T2V_API_KEYS' })),
    ...fromFile.map((entry) => ({ entry, source: 'T2V_API_KEYS_FILE' })),
  ]
    .map(({ entry, source }) => ({ entry: entry.trim(), source }))
    .filter(({ entry }) => entry !== '' && !entry.startsWith('#'))
    .map(({ entry, source }) => parseKeyEntry(entry, source));
  const names = new Set<string>();
  for (const { policy } of entries) {
    if (policy.name === null) continue;
    if (names.has(policy.name)) {
      throw new ConfigError(`invalid configuration:\n  T2V_API_KEYS: two keys are named ${policy.name}`);
    }
    names.add(policy.name);
  }
  return { apiKeys: entries.map((e) => e.key), keyPolicies: entries.map((e) => e.policy) };
}
