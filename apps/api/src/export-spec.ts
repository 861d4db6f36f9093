import 'reflect-metadata';

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { createApp } from './bootstrap';
import { createLogger } from './logging/logger';
import { loadConfig } from './config/config.schema';
import { ModelsService } from './models/models.service';
import { buildOpenApiDocument } from './openapi/openapi';

/**
 * Writes the OpenAPI document without starting a server or workers (default configuration).
 * `--check`: exits 1 when the committed file differs from what the app produces.
 */
async function main(): Promise<void> {
  const [target, flag] = process.argv.slice(2);
  if (!target) throw new Error('usage: export-spec <file> [--check]');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 't2v-spec-'));
  const config = loadConfig({ T2V_DATA_DIR: scratch });
  const app = await createApp(config, createLogger({ level: 'error' }));
  const spec = JSON.stringify(buildOpenApiDocument(app, app.get(ModelsService).model), null, 2) + '\n';
  fs.rmSync(scratch, { recursive: true, force: true });
  if (flag === '--check') {
    const committed = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (committed !== spec) {
      process.stderr.write(
        `${target} is out of date with the API: run \`npx nx run api:spec\` and commit it.\n`,
      );
      process.exit(1);
    }
    process.stdout.write(`${target} matches the API.\n`);
  } else {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, spec);
    process.stdout.write(`wrote ${target}\n`);
  }
  process.exit(0);
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
