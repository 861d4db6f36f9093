import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { jobStoreContract, sampleJob } from '../../jobs/job-store.contract';
import { SqliteJobStore } from './sqlite-job-store';

const tmp = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't2v-store-')), 'jobs.sqlite');

jobStoreContract('sqlite (embedded)', async (policy) => new SqliteJobStore(tmp(), undefined, policy));

describe('SqliteJobStore durability', () => {
  it('keeps jobs across a close and reopen of the file', async () => {
    const file = tmp();
    const a = new SqliteJobStore(file);
    await a.open();
    const job = await a.insert(sampleJob());
    await a.close();
    const b = new SqliteJobStore(file);
    await b.open();
    expect(await b.get(job.id)).toEqual(job);
    await b.close();
  });
});
