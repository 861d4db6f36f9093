/**
 * Names of the metrics a PromQL expression reads. Not a full parser: it removes what is not
 * a metric name (strings, label matchers, range and offset durations, grouping clauses,
 * function calls, keywords, numbers) and returns the identifiers that remain. Syntax is
 * checked separately by promtool.
 */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

export function metricNames(expr: string): string[] {
  let s = expr;
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' '); // strings
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // grouping labels
  s = s.replace(/\boffset\s+-?[0-9a-z]+/g, ' ');
  s = s.replace(/[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(/g, '('); // function and aggregation calls
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const before = s[m.index! - 1];
    // a number like 1e3 or 0x1f is not a name
    if (before && /[0-9.]/.test(before)) continue;
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** Grafana's variables replaced by values Prometheus accepts, so a panel query can be checked. */
export function expandGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$\{__rate_interval\}|\$\{__interval\}|\$__range/g, '5m')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?/g, '.+');
}

/** Sample names a `/metrics` exposition declares (from `# TYPE` lines; histograms add _bucket/_sum/_count). */
export function exposedMetricNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m) {
      const [, name, type] = m as unknown as [string, string, string];
      names.add(name);
      if (type === 'histogram') ['_bucket', '_sum', '_count'].forEach((s) => names.add(name + s));
      if (type === 'summary') ['_sum', '_count'].forEach((s) => names.add(name + s));
      if (type === 'counter' && !name.endsWith('_total')) names.add(`${name}_total`);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}
