/**
 * The `Prefer` request header (RFC 7240): comma-separated preferences `name[=value]`, each with
 * optional `;` parameters (ignored here). Names are case-insensitive; values may be quoted. When a
 * preference is given more than once, the first counts (RFC 7240 §2). Several `Prefer` header
 * lines arrive joined by commas, which is the same list.
 */
export function parsePrefer(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of splitOutsideQuotes(header, ',')) {
    const [pref] = splitOutsideQuotes(part, ';');
    const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^\s";]*))?\s*$/.exec(
      pref ?? '',
    );
    if (!m) continue;
    const name = m[1]!.toLowerCase();
    let value = m[2] ?? '';
    if (value.startsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted && c === '\\' && i + 1 < s.length) {
      current += c + s[i + 1];
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

/** The preferences a create honours, and how they were applied. */
export interface CreatePreferences {
  /** From `handling=strict|lenient`, else the server's setting. */
  handling: 'lenient' | 'strict';
  /** Whether the request asked for a handling (so `Preference-Applied` names it). */
  handlingRequested: boolean;
  /** Seconds from `wait=N`, capped by the server; null when not asked. */
  wait: number | null;
}

/**
 * Reads `handling` and `wait` from a Prefer header. Values it does not know are ignored, as
 * RFC 7240 asks (and so not named in `Preference-Applied`).
 */
export function createPreferences(
  header: string | undefined,
  defaults: { handling: 'lenient' | 'strict'; maxWaitS: number },
): CreatePreferences {
  const prefs = parsePrefer(header);
  const asked = prefs.get('handling')?.toLowerCase();
  const handling = asked === 'strict' || asked === 'lenient' ? asked : undefined;
  const wait = prefs.get('wait');
  return {
    handling: handling ?? defaults.handling,
    handlingRequested: handling !== undefined,
    wait: wait !== undefined && /^\d+$/.test(wait) ? Math.min(Number(wait), defaults.maxWaitS) : null,
  };
}

/** The `Preference-Applied` value for what was honoured; null when nothing was asked. */
export function preferenceApplied(prefs: CreatePreferences, waited: number | null): string | null {
  const applied: string[] = [];
  if (prefs.handlingRequested) applied.push(`handling=${prefs.handling}`);
  if (waited !== null) applied.push(`wait=${waited}`);
  return applied.length > 0 ? applied.join(', ') : null;
}
