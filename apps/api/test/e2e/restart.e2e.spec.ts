import { getJson, postJson, startApi, waitFor } from '../support/api-process';

/** An accepted job is never dropped: kill -9 the API with jobs queued and running, start it again. */
describe('durability across a crash of the API', () => {
  it('completes every accepted job after SIGKILL and restart', async () => {
    const first = await startApi({ T2V_SYNTHETIC_STEP_MS: '100' });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await postJson(`${first.url}/v1/videos`, {
        prompt: `survivor ${i}`,
        num_inference_steps: 10,
      });
      expect(r.status).toBe(200);
      ids.push(r.json.id);
    }
    await waitFor(
      async () => (await getJson(`${first.url}/v1/videos/${ids[0]}`)).json.status === 'in_progress',
    );
    await first.kill();

    const second = await startApi({ T2V_SYNTHETIC_STEP_MS: '5' }, { dataDir: first.dataDir });
    try {
      await waitFor(
        async () => {
          const list = (await getJson(`${second.url}/v1/videos?limit=100&order=asc`)).json;
          return list.data.length === ids.length && list.data.every((v: any) => v.status === 'completed');
        },
        30_000,
        'all jobs to complete after the restart',
      );
      const list = (await getJson(`${second.url}/v1/videos?limit=100&order=asc`)).json;
      expect(list.data.map((v: any) => v.id)).toEqual(ids);
      for (const id of ids) {
        const res = await fetch(`${second.url}/v1/videos/${id}/content`);
        expect(res.status).toBe(200);
        expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
      }
    } finally {
      await second.stop();
    }
  });
});
