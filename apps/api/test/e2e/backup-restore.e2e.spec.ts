import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { REDIS_CLI, type RedisProcess, startRedis } from '@t2v/testing/redis';

import { type ApiProcess, getJson, MAIN, postJson, startApi, waitFor } from '../support/api-process';

const run = promisify(execFile);
const OPS = path.join(path.dirname(MAIN), 'ops');

/**
 * Backup and restore as docs/operations/backup-restore.md tells an operator to do them, for both
 * queue drivers: the backup is taken while clients create jobs and workers finish them, restored
 * into a fresh instance, and every job acknowledged before the backup began is there and ends
 * completed with its video. Loopback only; the load is bounded in time.
 */
describe('backup and restore under load', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 't2v-backup-'));
  const processes: Array<ApiProcess | RedisProcess> = [];
  afterEach(async () => {
    for (const p of processes.splice(0).reverse()) await p.kill();
  });

  /**
   * Clients creating jobs until stopped (each about ten a second, so the workers keep up after a
   * restore); each acknowledged create with the time its answer came.
   */
  function load(url: string, clients = 3) {
    // `sent`: when the create was sent (a job sent after a copy finished cannot be in it);
    // `at`: when it was acknowledged (one acknowledged before a copy began must be in it).
    const acked: Array<{ id: string; sent: number; at: number }> = [];
    let stopped = false;
    const loops = Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; !stopped; i++) {
        const sent = Date.now();
        const res = await postJson(`${url}/v1/videos`, {
          prompt: `backup under load ${c}-${i}`,
          seconds: 1,
          size: '256x256',
          seed: c * 100_000 + i, // distinct: no cache hits
        });
        if (res.status === 200) acked.push({ id: res.json.id, sent, at: Date.now() });
        else throw new Error(`create answered ${res.status}: ${res.text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    return {
      acked,
      stop: async () => {
        stopped = true;
        await Promise.all(loops);
      },
    };
  }

  /** Until jobs are queued and some are completed: the mix a backup under load meets. */
  async function underWay(url: string, acked: Array<{ id: string }>): Promise<void> {
    await waitFor(
      async () =>
        acked.length >= 20 && (await getJson(`${url}/v1/videos/${acked[0]!.id}`)).json.status === 'completed',
      60_000,
      'jobs under way, some completed',
    );
  }

  /** Runs an ops command (backup.js, restore.js) with the API's environment. */
  async function ops(command: 'backup' | 'restore', dir: string, env: Record<string, string>) {
    const { stdout } = await run(process.execPath, [path.join(OPS, `${command}.js`), dir], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      timeout: 60_000,
    });
    return stdout;
  }

  /** Every job is on the restored instance and ends completed, with its video downloadable. */
  async function expectAllThere(api: ApiProcess, ids: string[]): Promise<void> {
    for (const id of ids)
      expect([id, (await getJson(`${api.url}/v1/videos/${id}`)).status]).toEqual([id, 200]);
    await waitFor(
      async () => {
        for (const id of ids)
          if ((await getJson(`${api.url}/v1/videos/${id}`)).json.status !== 'completed') return false;
        return true;
      },
      180_000,
      'every restored job to complete',
    );
    for (const id of ids) {
      const content = await fetch(`${api.url}/v1/videos/${id}/content`, { method: 'HEAD' });
      expect([id, content.status]).toEqual([id, 200]);
    }
  }

  // A replica's lock runs out quickly, so a restored Redis's running jobs are taken over soon.
  const env = { T2V_SYNTHETIC_STEP_MS: '5', T2V_MAX_QUEUE: '100000', T2V_REDIS_LOCK_S: '2' };

  it('embedded (SQLite): the store copied as of one commit while jobs are created, restored into a fresh data directory', async () => {
    const dataDir = tmp();
    const api = await startApi(env, { dataDir });
    processes.push(api);
    const clients = load(api.url);
    await underWay(api.url, clients.acked);
    const backupStarted = Date.now();
    const backupDir = path.join(tmp(), 'backup');
    const out = await ops('backup', backupDir, { T2V_DATA_DIR: dataDir });
    const backupDone = Date.now();
    expect(out).toMatch(/backed up \d+ jobs/);
    await new Promise((r) => setTimeout(r, 500)); // jobs keep coming after the copy
    await clients.stop();
    const before = clients.acked.filter((a) => a.at < backupStarted).map((a) => a.id);
    const after = clients.acked.filter((a) => a.sent > backupDone).map((a) => a.id);
    expect(after.length).toBeGreaterThan(0);
    expect(await api.stop()).toBe(0);

    const manifest = JSON.parse(fs.readFileSync(path.join(backupDir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 1, queue: 'embedded', store: { file: 'jobs.sqlite' } });
    expect(manifest.store.jobs).toBeGreaterThanOrEqual(before.length);
    // Taken under load: jobs waiting, and jobs done whose videos came along.
    expect(manifest.store.by_status['queued']).toBeGreaterThan(0);
    expect(manifest.store.by_status['completed']).toBeGreaterThan(0);
    expect(manifest.outputs.files).toBeGreaterThan(0);

    // A fresh instance: nothing but the backup.
    const fresh = tmp();
    expect(await ops('restore', backupDir, { T2V_DATA_DIR: fresh })).toMatch(/restored \d+ jobs/);
    // Restoring over a store is refused.
    await expect(ops('restore', backupDir, { T2V_DATA_DIR: fresh })).rejects.toThrow(
      /already holds a job store/,
    );
    const restored = await startApi(env, { dataDir: fresh });
    processes.push(restored);
    await expectAllThere(restored, before);
    // Created after the backup: not in it.
    for (const id of after) expect((await getJson(`${restored.url}/v1/videos/${id}`)).status).toBe(404);
    expect(await restored.stop()).toBe(0);
  }, 300_000);

  it('redis: an RDB snapshot from redis-cli --rdb and the outputs while jobs are created, restored as the AOF base of a fresh Redis', async () => {
    const redis = await startRedis({ appendfsync: 'everysec' });
    processes.push(redis);
    const storage = tmp();
    const redisEnv = { ...env, T2V_QUEUE: 'redis', REDIS_URL: redis.url, T2V_STORAGE_DIR: storage };
    const api = await startApi(redisEnv);
    processes.push(api);
    const clients = load(api.url);
    await underWay(api.url, clients.acked);
    const backupStarted = Date.now();
    const backupDir = path.join(tmp(), 'backup');
    fs.mkdirSync(backupDir);
    // The documented steps: the Redis snapshot first, then the outputs.
    await run(REDIS_CLI, [
      '-h',
      '127.0.0.1',
      '-p',
      String(redis.port),
      '--rdb',
      path.join(backupDir, 'dump.rdb'),
    ]);
    expect(
      await ops('backup', backupDir, { T2V_QUEUE: 'redis', REDIS_URL: redis.url, T2V_STORAGE_DIR: storage }),
    ).toMatch(/redis-cli --rdb/);
    await new Promise((r) => setTimeout(r, 500));
    await clients.stop();
    const before = clients.acked.filter((a) => a.at < backupStarted).map((a) => a.id);
    expect(await api.stop()).toBe(0);
    await redis.stop();

    // A fresh Redis with AOF, as the chart runs it: the snapshot is the base of its AOF.
    const restoredDir = tmp();
    fs.mkdirSync(path.join(restoredDir, 'appendonlydir'));
    fs.copyFileSync(
      path.join(backupDir, 'dump.rdb'),
      path.join(restoredDir, 'appendonlydir/appendonly.aof.1.base.rdb'),
    );
    fs.writeFileSync(
      path.join(restoredDir, 'appendonlydir/appendonly.aof.manifest'),
      'file appendonly.aof.1.base.rdb seq 1 type b\n',
    );
    const fresh = await startRedis({ dir: restoredDir, appendfsync: 'everysec' });
    processes.push(fresh);
    const freshStorage = tmp();
    const freshEnv = { ...env, T2V_QUEUE: 'redis', REDIS_URL: fresh.url, T2V_STORAGE_DIR: freshStorage };
    expect(await ops('restore', backupDir, freshEnv)).toMatch(/restored \d+ files/);
    const restored = await startApi(freshEnv);
    processes.push(restored);
    await expectAllThere(restored, before);
    expect(await restored.stop()).toBe(0);
  }, 300_000);
});
