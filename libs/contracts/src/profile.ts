/**
 * Model profile: a small JSON file beside the weights (`<model>/t2v-profile.json`) or named by
 * `T2V_MODEL_PROFILE`. It sets a checkpoint's defaults and accepted ranges (a step-distilled
 * checkpoint runs 3 steps without CFG), so `/v1/models` and request validation follow the weights.
 * The worker reads the same file (`apps/worker/src/t2v_worker/profile.py`); both test suites read
 * the golden fixtures in `fixtures/profile/`.
 */
import type { ParseResult } from './protocol';

export const MODEL_PROFILE_FILE = 't2v-profile.json';

export interface ProfileRange {
  min: number;
  max: number;
  default: number;
}

export interface ModelProfile {
  /** Model id served by `/v1/models` instead of the engine's. */
  id?: string;
  description?: string;
  num_inference_steps?: ProfileRange;
  guidance_scale?: ProfileRange;
  /** Scheduler flow shift used when a request gives none. */
  flow_shift?: number;
}

const FIELDS = ['id', 'description', 'num_inference_steps', 'guidance_scale', 'flow_shift'];
const MAX_STEPS = 1000;
const MAX_GUIDANCE = 100;

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function range(
  value: unknown,
  field: string,
  integer: boolean,
  lo: number,
  hi: number,
): ProfileRange | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `${field} must be an object with exactly min, max and default`;
  }
  const keys = Object.keys(value).sort();
  if (keys.join(',') !== 'default,max,min')
    return `${field} must be an object with exactly min, max and default`;
  const r = value as Record<string, unknown>;
  for (const key of ['min', 'max', 'default']) {
    const v = r[key];
    if (!isNumber(v) || (integer && !Number.isInteger(v))) {
      return `${field}.${key} must be ${integer ? 'an integer' : 'a number'}`;
    }
    if (v < lo || v > hi) return `${field}.${key} ${v} is outside ${lo}..${hi}`;
  }
  const { min, max, default: def } = r as unknown as ProfileRange;
  if (!(min <= def && def <= max)) return `${field} needs min <= default <= max`;
  return { min, max, default: def };
}

/** Validates a decoded profile; the error names the field. Unknown fields are refused. */
export function parseModelProfile(raw: unknown): ParseResult<ModelProfile> {
  const fail = (error: string): ParseResult<ModelProfile> => ({ ok: false, error });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return fail('a profile is a JSON object');
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!FIELDS.includes(key)) return fail(`unknown field "${key}" (accepted: ${FIELDS.join(', ')})`);
  }
  const out: ModelProfile = {};
  for (const key of ['id', 'description'] as const) {
    if (!(key in r)) continue;
    const v = r[key];
    if (typeof v !== 'string' || v.trim() === '') return fail(`${key} must be a non-empty string`);
    out[key] = v;
  }
  if (out.id !== undefined && !/^[A-Za-z0-9._-]+$/.test(out.id)) {
    return fail("id may hold only letters, digits, '.', '_' and '-'");
  }
  if ('num_inference_steps' in r) {
    const steps = range(r['num_inference_steps'], 'num_inference_steps', true, 1, MAX_STEPS);
    if (typeof steps === 'string') return fail(steps);
    out.num_inference_steps = steps;
  }
  if ('guidance_scale' in r) {
    const guidance = range(r['guidance_scale'], 'guidance_scale', false, 0, MAX_GUIDANCE);
    if (typeof guidance === 'string') return fail(guidance);
    out.guidance_scale = guidance;
  }
  if ('flow_shift' in r && r['flow_shift'] !== null) {
    const v = r['flow_shift'];
    if (!isNumber(v) || v <= 0 || v > 100) return fail('flow_shift must be a number in (0, 100]');
    out.flow_shift = v;
  }
  return { ok: true, value: out };
}
