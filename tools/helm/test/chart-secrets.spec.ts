/**
 * Credentials live in Secrets only. Every scenario is rendered with every Secret-typed setting it
 * can take set to a value of its own, and no object but a Secret may hold any of those values; the
 * API's list of credential variables (config.schema.ts SECRET_VARS, from its build) is what the
 * chart must set from Secrets, never from the ConfigMap or a literal.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { parse } from 'yaml';

import { HelmError } from '../src/helm.errors';
import type { HelmValue } from '../src/helm.driver';
import type { K8sObject } from '../src/manifests';
import { Any, CHART_DIR, REPO_ROOT, render, scenarios } from './chart.harness';

const CONFIG = path.join(REPO_ROOT, 'dist/apps/api/config/config.schema.js');

/** One distinct value per Secret-typed setting, each accepted by the values schema. */
const VALUES = {
  apiKey: 'sentinel-api-key-0123456789',
  webhookSecret: `whsec_${Buffer.from('sentinel-webhook-secret!').toString('base64')}`,
  jwksUrl: 'https://sentinel-jwks.idp.example.test/keys',
  issuer: 'https://sentinel-issuer.idp.example.test',
  audience: 'sentinel-audience-t2v',
  redisPassword: 'sentinel-redis-password-0123',
  redisUrlPassword: 'sentinel-url-password-0123',
};

type Values = Record<string, Any>;

function merge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over ?? {})) {
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && typeof base[k] === 'object' ? merge(base[k], v) : v;
  }
  return out;
}

/** The Secret-typed settings a scenario can take inline (those it does not read from an existing Secret). */
function secretSettings(scenario: string): Record<string, HelmValue> {
  const v = merge(
    parse(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')),
    parse(readFileSync(path.join(CHART_DIR, scenario), 'utf8')) ?? {},
  );
  const set: Record<string, HelmValue> = {};
  if (!v['auth'].existingSecret) set['auth.apiKeys'] = [VALUES.apiKey];
  if (!v['webhooks'].existingSecret) set['webhooks.secret'] = VALUES.webhookSecret;
  if (!v['auth'].oidc.existingSecret) {
    set['auth.oidc.jwksUrl'] = VALUES.jwksUrl;
    set['auth.oidc.issuer'] = VALUES.issuer;
    set['auth.oidc.audience'] = VALUES.audience;
  }
  const redis = v['queue'].driver === 'redis';
  if (redis && v['redis'].enabled && !v['redis'].auth.existingSecret)
    set['redis.auth.password'] = VALUES.redisPassword;
  const ext = v['redis'].external;
  if (redis && !v['redis'].enabled && !ext.sentinels?.length && !ext.existingSecret)
    set['redis.external.url'] = `rediss://:${VALUES.redisUrlPassword}@redis.example.test:6380/0`;
  return set;
}

/** Every string anywhere in an object. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

const containers = (o: K8sObject): Any[] => (o as Any).spec?.template?.spec?.containers ?? [];

const ALL = scenarios();
let secretVars: string[];
const rendered = new Map<string, { set: Record<string, HelmValue>; objects: K8sObject[] }>();

beforeAll(async () => {
  if (!existsSync(CONFIG)) throw new Error(`${CONFIG} is missing: run npx nx run api:build first`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  secretVars = [...(require(CONFIG).SECRET_VARS as Set<string>)];
  await Promise.all(
    ALL.map(async (s) => {
      const set = secretSettings(s);
      rendered.set(s, { set, objects: await render([s], set) });
    }),
  );
}, 120_000);

describe.each(ALL)('%s, every Secret-typed setting set', (scenario) => {
  it('holds those values in Secrets and nowhere else (no ConfigMap, no literal in a pod spec)', () => {
    const { set, objects } = rendered.get(scenario)!;
    const values = strings(set).flatMap((s) => [
      s,
      ...(s.includes(VALUES.redisUrlPassword) ? [VALUES.redisUrlPassword] : []),
    ]);
    // ci/secrets-values.yaml reads every credential from an existing Secret: nothing to set inline.
    if (scenario !== 'ci/secrets-values.yaml') expect(values.length).toBeGreaterThan(0);
    for (const o of objects.filter((x) => x.kind !== 'Secret')) {
      const leaked = values.filter((value) => strings(o).some((s) => s.includes(value)));
      expect({ object: `${o.kind}/${o.metadata.name}`, leaked }).toEqual({
        object: `${o.kind}/${o.metadata.name}`,
        leaked: [],
      });
    }
    const inSecrets = strings(objects.filter((x) => x.kind === 'Secret'));
    for (const value of strings(set)) expect(inSecrets).toContain(value);
  });

  it('sets every credential variable of the API from a Secret, and no ConfigMap names one', () => {
    const { objects } = rendered.get(scenario)!;
    for (const cm of objects.filter((o) => o.kind === 'ConfigMap')) {
      expect(Object.keys((cm as Any).data ?? {}).filter((k) => secretVars.includes(k))).toEqual([]);
    }
    for (const c of objects.flatMap(containers)) {
      for (const e of (c.env ?? []) as Any[]) {
        if (!secretVars.includes(e.name)) continue;
        if (e.valueFrom) expect(e.valueFrom).toEqual({ secretKeyRef: expect.any(Object) });
        // The in-release Redis's URL is composed from the password variable, read from its Secret.
        else
          expect({ [e.name]: e.value }).toEqual({ REDIS_URL: expect.stringContaining('$(REDIS_PASSWORD)') });
      }
    }
  });
});

it('has a Secret-backed chart value for every credential variable the API reads', () => {
  const fromSecrets = new Set(
    [...rendered.values()]
      .flatMap(({ objects }) => objects.flatMap(containers))
      .flatMap((c) => (c.env ?? []) as Any[])
      .filter((e) => e.valueFrom?.secretKeyRef || String(e.value ?? '').includes('$(REDIS_PASSWORD)'))
      .map((e) => e.name as string),
  );
  expect(secretVars.filter((name) => !fromSecrets.has(name))).toEqual([]);
});

it('keeps the chart’s list of credential variables equal to the API’s', () => {
  const helpers = readFileSync(path.join(CHART_DIR, 'templates/_helpers.tpl'), 'utf8');
  const listed = /define "t2v\.secretVars" -\}\}\n(.*)\n/.exec(helpers)![1]!.split(' ');
  expect(listed.sort()).toEqual([...secretVars].sort());
});

it.each(['T2V_WEBHOOK_SECRET', 'T2V_API_KEYS', 'T2V_JWT_ISSUER', 'REDIS_PASSWORD'])(
  'refuses %s in config.extraEnv, naming the Secret-backed way',
  async (name) => {
    await expect(render([], { [`config.extraEnv.${name}`]: 'x' })).rejects.toThrow(HelmError);
    await expect(render([], { [`config.extraEnv.${name}`]: 'x' })).rejects.toThrow(
      new RegExp(`config\\.extraEnv\\.${name}: a credential would land in the ConfigMap`),
    );
  },
);

it('takes other credentials from existing Secrets (config.extraSecretEnv)', async () => {
  const objects = await render([], {
    'config.extraSecretEnv': { HF_TOKEN: { secretName: 'hf', key: 'token' } },
  });
  const env = containers(objects.find((o) => o.kind === 'Deployment')!)[0].env as Any[];
  expect(env).toContainEqual({ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } });
});

it('refuses OIDC settings given half inline, or both inline and from an existing Secret', async () => {
  await expect(render([], { 'auth.oidc.issuer': 'https://idp.test' })).rejects.toThrow(
    /set jwksUrl, issuer and audience together/,
  );
  await expect(
    render([], {
      'auth.oidc.existingSecret': 'oidc',
      'auth.oidc.jwksUrl': 'https://idp.test/jwks',
      'auth.oidc.issuer': 'https://idp.test',
      'auth.oidc.audience': 't2v',
    }),
  ).rejects.toThrow(/auth\.oidc: set auth\.oidc\.existingSecret or the jwksUrl/);
  await expect(
    render([], { 'webhooks.secret': VALUES.webhookSecret, 'webhooks.existingSecret': 'wh' }),
  ).rejects.toThrow(/webhooks\.secret and webhooks\.existingSecret: choose one/);
});
