/**
 * The API's own configuration loader (built: dist/apps/api) accepts the environment every
 * scenario gives each of its pods (both tiers with topology=split): the chart's ConfigMap plus the
 * variables the Deployment sets or takes from Secrets.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { kinds, one } from '../src/manifests';
import { Any, REPO_ROOT, render, scenarios } from './chart.harness';

const LOADER = path.join(REPO_ROOT, 'dist/apps/api/config/config.schema.js');

/** A PEM file standing in for the CA bundle the chart mounts from a Secret (read at boot). */
function caFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 't2v-ca-')), 'ca.crt');
  writeFileSync(file, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  return file;
}

/** Runs the API's loadConfig on each environment in a child process; null means accepted. */
function loadConfigs(envs: Record<string, string>[]): Promise<Array<string | null>> {
  const script = `
    const { loadConfig } = require(${JSON.stringify(LOADER)});
    let input = '';
    process.stdin.on('data', (d) => (input += d)).on('end', () => {
      const out = JSON.parse(input).map((env) => { try { loadConfig(env); return null; } catch (e) { return e.message; } });
      process.stdout.write(JSON.stringify(out));
    });`;
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', script], { timeout: 30_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr || error.message)) : resolve(JSON.parse(stdout)),
    );
    child.stdin!.end(JSON.stringify(envs));
  });
}

const ALL = scenarios();
/** Per scenario, per Deployment: null when the API accepted the pod's environment, else why not. */
let results: Map<string, Array<[string, string | null]>>;

beforeAll(async () => {
  if (!existsSync(LOADER)) throw new Error(`${LOADER} is missing: run npx nx run api:build first`);
  const pods = await Promise.all(
    ALL.map(async (s) => {
      const objects = await render([s]);
      const configMap: Record<string, string> = (one(objects, 'ConfigMap', 't2v') as Any).data;
      return kinds(objects, 'Deployment').map((d: Any) => {
        const env: Record<string, string> = { ...configMap };
        for (const e of d.spec.template.spec.containers[0].env ?? []) {
          // values Kubernetes would take from Secrets or expand; any well-formed value will do
          if (e.name === 'T2V_API_KEYS') env[e.name] = 'key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb';
          else if (e.name === 'REDIS_PASSWORD') env[e.name] = 'pw';
          else if (e.name === 'REDIS_URL') env[e.name] = 'redis://:pw@t2v-redis:6379/0';
          else if (e.name === 'REDIS_TLS_CA_FILE') env[e.name] = caFile();
          else if (e.name === 'T2V_WEBHOOK_SECRET') env[e.name] = `whsec_${'A'.repeat(43)}=`;
          else if (e.name === 'T2V_JWT_JWKS_URL') env[e.name] = 'https://idp.example.test/jwks';
          else if (e.name === 'T2V_JWT_ISSUER') env[e.name] = 'https://idp.example.test';
          else if (e.name === 'T2V_JWT_AUDIENCE') env[e.name] = 't2v';
          else env[e.name] = e.value ?? 'x';
        }
        return { scenario: s, deployment: d.metadata.name as string, env };
      });
    }),
  );
  const flat = pods.flat();
  const out = await loadConfigs(flat.map((p) => p.env));
  results = new Map(ALL.map((s) => [s, []]));
  flat.forEach((p, i) => results.get(p.scenario)!.push([p.deployment, out[i]!]));
});

describe.each(ALL)('%s', (scenario) => {
  it('gives the API a configuration it accepts, in every Deployment', () => {
    const per = results.get(scenario)!;
    expect(per.length).toBeGreaterThan(0);
    expect(per).toEqual(per.map(([name]) => [name, null]));
  });
});
