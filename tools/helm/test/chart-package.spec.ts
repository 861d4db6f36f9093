/** What `helm package` ships: the chart, its schema, README and dashboards; not the test and environment values. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { CHART_DIR, helm } from './chart.harness';

let tmp: string;
let files: string[];

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 't2v-package-'));
  await helm.run(['package', `--destination=${tmp}`, '--', CHART_DIR], { global: false });
  files = execFileSync('tar', ['-tzf', path.join(tmp, 't2v-0.2.0.tgz')], { encoding: 'utf8' })
    .trim()
    .split('\n');
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('ships the chart, schema, README, NOTES and dashboards', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      't2v/Chart.yaml',
      't2v/values.yaml',
      't2v/values.schema.json',
      't2v/README.md',
      't2v/templates/NOTES.txt',
      't2v/templates/deployment.yaml',
      't2v/dashboards/t2v-service.json',
      't2v/dashboards/t2v-workers.json',
    ]),
  );
});

it('leaves out scenario and environment values', () => {
  expect(files.filter((f) => f.startsWith('t2v/ci/') || f.startsWith('t2v/environments/'))).toEqual([]);
});
