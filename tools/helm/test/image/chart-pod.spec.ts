/**
 * The t2v-api image run as the chart runs it: the chart rendered with its CI values, its
 * Deployment, ConfigMap, Secret and claim started as real containers (chart-pod.harness.ts), and
 * checked the way a cluster and its users see the pod. Needs `npx nx run helm-tools:image-api`
 * (the test target runs it first), podman and the chromium and ffmpeg packages.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import type { Browser } from 'playwright-core';

import { launchChromium, playerDuration, watchPage } from '@t2v/testing/browser';
import { ffprobe } from '@t2v/testing/media';

import { lastBuilt } from '../../src/image/build';
import { Any } from '../chart.harness';
import { ChartPod } from './chart-pod.harness';

const KEY = 'chart-pod-test-key';
const auth = { authorization: `Bearer ${KEY}` };
/** The synthetic engine's step time: a 100-step job runs 10 s, long enough to be drained. */
const STEP_MS = 100;

let pod: ChartPod;
let dataDir: string;

async function createJob(body: Record<string, unknown>, wait = 0): Promise<Any> {
  const r = await fetch(pod.url('/v1/videos'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth, ...(wait ? { prefer: `wait=${wait}` } : {}) },
    body: JSON.stringify(body),
  });
  expect(r.status).toBe(200);
  return r.json();
}

async function video(id: string): Promise<Any> {
  return (await fetch(pod.url(`/v1/videos/${id}`), { headers: auth })).json();
}

beforeAll(async () => {
  const image = lastBuilt('t2v-api');
  pod = await ChartPod.render({
    image: image.ref,
    release: `t2v-pod-${process.pid}`,
    values: ['ci/default-values.yaml'],
    set: {
      // a Secret in the pod: the API keys
      'auth.apiKeys': [KEY],
      // a grace period a test can wait out (the chart's default is 30 minutes)
      terminationGracePeriodSeconds: 60,
      preStopSleepSeconds: 2,
      'config.extraEnv': { T2V_SYNTHETIC_STEP_MS: String(STEP_MS) },
    },
  });
  await pod.play();
  await pod.waitReady(120_000);
  const claim = pod.deployment.spec.template.spec.volumes.find((v: Any) => v.name === 'data');
  dataDir = await pod.volumePath(claim.persistentVolumeClaim.claimName);
}, 300_000);

afterAll(async () => {
  await pod?.down();
}, 120_000);

describe('the chart pod, as rendered (t2v-api image)', () => {
  it('starts from the rendered Deployment, ConfigMap, Secret and claim and passes its probes', async () => {
    const kinds = pod.objects.map((o) => o.kind);
    for (const kind of ['Deployment', 'ConfigMap', 'Secret', 'PersistentVolumeClaim'])
      expect(kinds).toContain(kind);
    expect(await pod.probe('startupProbe')).toBe(true);
    expect(await pod.probe('readinessProbe')).toBe(true);
    expect(await pod.probe('livenessProbe')).toBe(true);
    const ready = (await (await fetch(pod.url('/readyz'))).json()) as Any;
    expect(ready.status).toBe('ok');
  });

  it('reads its settings from the ConfigMap and its keys from the Secret', async () => {
    expect((await fetch(pod.url('/v1/models'))).status).toBe(401);
    const models = (await (await fetch(pod.url('/v1/models'), { headers: auth })).json()) as Any;
    expect(models.data[0].id).toBe('t2v-synthetic');
  });

  it('runs every process as 10001:10001 with no capabilities and no way to gain any', async () => {
    const processes = await pod.processes();
    // tini, the API, its synthetic engine worker
    expect(processes.map((p) => p.command).join('\n')).toMatch(/tini/);
    expect(processes.map((p) => p.command).join('\n')).toMatch(/dist\/apps\/api\/main\.js/);
    expect(processes.map((p) => p.command).join('\n')).toMatch(/dist\/apps\/engine-synthetic\/main\.js/);
    for (const p of processes) {
      expect({ command: p.command, uid: p.uid, gid: p.gid }).toEqual({
        command: p.command,
        uid: '10001\t10001\t10001\t10001',
        gid: '10001\t10001\t10001\t10001',
      });
      for (const set of [p.capEff, p.capPrm, p.capBnd, p.capAmb]) expect(set).toBe('0000000000000000');
      expect(p.noNewPrivs).toBe('1');
      expect(p.seccomp).toBe('2'); // filter mode: the runtime's default profile
    }
  });

  it('has a read-only root filesystem: only /data and /tmp (and /dev/shm) take writes', async () => {
    const mounts = pod.apiContainer.volumeMounts.filter((m: Any) => !m.readOnly).map((m: Any) => m.mountPath);
    expect(mounts.sort()).toEqual(['/data', '/dev/shm', '/tmp']);
    const paths = [
      '/',
      '/app',
      '/app/dist',
      '/etc',
      '/usr/local/bin',
      '/var',
      '/var/tmp',
      '/run',
      '/home',
      '/models',
      ...mounts,
    ];
    const script = `
      const fs = require('node:fs');
      const out = {};
      for (const dir of process.argv.slice(1)) {
        const file = require('node:path').join(dir, '.t2v-write-probe');
        try { fs.writeFileSync(file, 'x'); fs.unlinkSync(file); out[dir] = 'ok'; } catch (e) { out[dir] = e.code; }
      }
      process.stdout.write(JSON.stringify(out));`;
    const r = await pod.podman.exec(pod.container, ['node', '-e', script, ...paths]);
    expect(r.exitCode).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, string>;
    for (const p of paths)
      expect({ path: p, result: result[p] }).toEqual({
        path: p,
        result: mounts.includes(p) ? 'ok' : 'EROFS',
      });
  });

  it('serves the playground at / and Swagger UI at /docs', async () => {
    const page = await fetch(pod.url('/'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(pod.url(script!));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    const docs = await fetch(pod.url('/docs'));
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger-ui/i);
  });

  it('a job created through the pod port completes, and its MP4 is on the data volume', async () => {
    const created = await createJob(
      { prompt: 'a lighthouse in a storm', seconds: 1, num_inference_steps: 4 },
      60,
    );
    expect(created.status).toBe('completed');
    const file = path.join(dataDir, 'videos', `${created.id}.mp4`);
    expect(existsSync(file)).toBe(true);
    expect(ffprobe(file)).toMatchObject({ codec: 'h264', width: 320, height: 192, pixFmt: 'yuv420p' });
    const content = await fetch(pod.url(`/v1/videos/${created.id}/content`), { headers: auth });
    expect(content.status).toBe(200);
    expect(content.headers.get('content-type')).toBe('video/mp4');
  });

  describe('the playground in Chromium, through the pod port', () => {
    let browser: Browser;

    beforeAll(async () => {
      browser = await launchChromium();
    });

    afterAll(async () => {
      await browser?.close();
    });

    it('takes the API key, renders a video and plays it', async () => {
      const page = await browser.newPage();
      const origin = pod.url('');
      const seen = watchPage(page, origin);
      expect((await page.goto(pod.url('/')))?.status()).toBe(200);
      await page.locator('#key-panel').waitFor({ state: 'visible' });
      await page.fill('#key-input', KEY);
      await page.click('#key-form button[type="submit"]');
      await page.locator('#generate:not([disabled])').waitFor();
      expect(await page.textContent('#model-info')).toContain('t2v-synthetic');
      await page.fill('#prompt', 'a paper boat on a puddle');
      await page.fill('#steps', '4');
      await page.click('#generate');
      await page.locator('#job[data-status="completed"]').waitFor({ timeout: 30_000 });
      expect(await playerDuration(page)).toBeGreaterThan(0.5);
      const id = (await page.getAttribute('#job', 'data-id'))!;
      expect(existsSync(path.join(dataDir, 'videos', `${id}.mp4`))).toBe(true);
      expect(seen.foreign).toEqual([]);
      // Over plain HTTP to an address other than localhost, Chromium says it ignores the API's
      // Cross-Origin-Opener-Policy header (it needs a trustworthy origin); nothing else may appear.
      expect(
        seen.errors.filter((e) => !/^The Cross-Origin-Opener-Policy header has been ignored/.test(e)),
      ).toEqual([]);
      await page.close();
    });
  });

  it("runs the chart's helm test pod against it", async () => {
    const tests = await pod.helmTests();
    expect(tests.length).toBeGreaterThan(0);
    for (const t of tests) {
      expect({ name: t.name, exitCode: t.exitCode }).toEqual({ name: t.name, exitCode: 0 });
      expect(t.output).toMatch(/^200 /m);
    }
  }, 180_000);

  it('on SIGTERM drains: readiness fails, the running job finishes, the container exits 0 within the grace period', async () => {
    const running = await createJob({ prompt: 'a slow sunrise', seconds: 1, num_inference_steps: 100 });
    for (let i = 0; i < 100 && (await video(running.id)).status !== 'in_progress'; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect((await video(running.id)).status).toBe('in_progress');

    // a 503 from the readiness path: the server is up and says it is not ready (not merely gone)
    let sawNotReady = false;
    const readinessPath = pod.apiContainer.readinessProbe.httpGet.path as string;
    let statusAtSignal = '';
    const stopping = pod.terminate(async () => {
      statusAtSignal = (await video(running.id)).status;
    });
    // podman holds the container while it stops it: watch the pod's port only
    let stoppedYet = false;
    void stopping.finally(() => (stoppedYet = true));
    const watching = (async () => {
      while (!stoppedYet) {
        const r = await fetch(pod.url(readinessPath), { signal: AbortSignal.timeout(2000) }).catch(
          () => null,
        );
        if (r?.status === 503) sawNotReady = true;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const [stopped] = await Promise.all([stopping, watching]);

    expect(statusAtSignal).toBe('in_progress');
    expect(stopped.preStopExitCode).toBe(0);
    expect(stopped.exitCode).toBe(0);
    expect(stopped.seconds).toBeLessThan(pod.graceSeconds);
    expect(sawNotReady).toBe(true);
    expect(await pod.logs()).toMatch(/SIGTERM: draining/);
    const file = path.join(dataDir, 'videos', `${running.id}.mp4`);
    expect(ffprobe(file).codec).toBe('h264');
    // started again on the same volume, the store says the drained job completed
    await pod.restart();
    await pod.waitReady(60_000);
    expect(await video(running.id)).toMatchObject({ status: 'completed', progress: 100 });
  }, 120_000);
});
