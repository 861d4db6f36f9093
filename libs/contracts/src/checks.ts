/**
 * Field checks of the strict wire parsers (worker protocol, model card): each takes a decoded JSON
 * value and says whether it is acceptable. The Python worker's protocol.py has the same ones.
 */
export type Check = (v: unknown) => boolean;

export const str: Check = (v) => typeof v === 'string';
export const nonEmpty: Check = (v) => typeof v === 'string' && v.length > 0;
export const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
export const nonNegNum: Check = (v) => num(v) && (v as number) >= 0;
export const posInt: Check = (v) => Number.isInteger(v) && (v as number) > 0;
export const nonNegInt: Check = (v) => Number.isInteger(v) && (v as number) >= 0;
export const nullable =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
export const oneOf =
  (values: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);
export const obj =
  (shape: Record<string, Check>): Check =>
  (v) =>
    checkShape(v, shape) === null;
export const arrayOf =
  (c: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(c);
export const absPath: Check = (v) => typeof v === 'string' && v.startsWith('/');
export const sha256Hex: Check = (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns null when `v` has exactly the keys of `shape`, each passing its check; else why not. */
export function checkShape(v: unknown, shape: Record<string, Check>): string | null {
  if (!isRecord(v)) return 'not an object';
  for (const key of Object.keys(v)) if (!(key in shape)) return `unexpected field "${key}"`;
  for (const [key, check] of Object.entries(shape)) {
    if (!(key in v)) return `missing field "${key}"`;
    if (!check(v[key])) return `invalid field "${key}"`;
  }
  return null;
}
