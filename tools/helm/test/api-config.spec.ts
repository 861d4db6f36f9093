/**
 * The API's own configuration loader (built: dist/apps/api) accepts the environment every
 * scenario gives the pod: the chart's ConfigMap plus the variables it takes from Secrets.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { one } from '../src/manifests';
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
let results: Map<string, string | null>;

beforeAll(async () => {
  if (!existsSync(LOADER)) throw new Error(`${LOADER} is missing: run npx nx run api:build first`);
  const envs = await Promise.all(
    ALL.map(async (s) => {
      const objects = await render([s]);
      const env: Record<string, string> = { ...(one(objects, 'ConfigMap', 't2v') as Any).data };
      const container = (one(objects, 'Deployment') as Any).spec.template.spec.containers[0];
      for (const e of container.env ?? []) {
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
      return env;
    }),
  );
  const out = await loadConfigs(envs);
  results = new Map(ALL.map((s, i) => [s, out[i]!]));
});

describe.each(ALL)('%s', (scenario) => {
  it('gives the API a configuration it accepts', () => {
    expect(results.get(scenario)).toBeNull();
  });
});
