/**
 * The GPU image (`t2v`), on a machine without a GPU: its venv imports what the worker needs, it
 * carries one ffmpeg, gcc builds a Python extension the way Triton builds its kernel launchers,
 * and the chart's pod with the wan-tiny engine (the real Python pipeline, tiny random weights, on
 * CPU) renders a job to an MP4 on its volume. Not part of `npm test` (the image is several GB):
 * `npx nx run helm-tools:test-gpu-image` builds it first.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { ffprobe } from '@t2v/testing/media';

import { lastBuilt } from '../../src/image/build';
import { Podman, REPO_ROOT } from '../../src/image/podman';
import { Any } from '../chart.harness';
import { ChartPod } from './chart-pod.harness';

const podman = new Podman();
const image = lastBuilt('t2v');

/** Runs a command in a fresh container as the chart runs it: read-only, 10001, no capabilities. */
async function inImage(
  command: string[],
): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  return podman.attempt(
    [
      'run',
      '--rm',
      '--read-only',
      '--tmpfs=/tmp',
      '--user=10001:10001',
      '--cap-drop=ALL',
      '--security-opt=no-new-privileges',
      '--network=none',
      image.ref,
      ...command,
    ],
    300_000,
  );
}

describe('the t2v image', () => {
  it('imports torch (the lock pin), diffusers and the worker with the venv the API starts', async () => {
    const torchPin = /^torch==(\S+)$/m.exec(
      readFileSync(path.join(REPO_ROOT, 'apps/worker/requirements.lock'), 'utf8'),
    )?.[1];
    const r = await inImage([
      'env',
      'PYTHONPATH=apps/worker/src',
      'apps/worker/.venv/bin/python',
      '-c',
      'import json, torch, diffusers, t2v_worker; print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "diffusers": diffusers.__version__}))',
    ]);
    expect(r.stderr).not.toMatch(/Traceback/);
    expect(r.exitCode).toBe(0);
    const versions = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Any;
    expect(versions.torch.split('+')[0]).toBe(torchPin);
    expect(versions.cuda).toMatch(/^13\.0/);
  });

  it('carries one ffmpeg, the one T2V_FFMPEG names', async () => {
    const r = await inImage([
      'sh',
      '-c',
      'find / -xdev -type f -name "*ffmpeg*" -perm -u+x 2>/dev/null; echo "T2V_FFMPEG=$T2V_FFMPEG"',
    ]);
    expect(r.stdout.trim().split('\n').sort()).toEqual(['/usr/bin/ffmpeg', 'T2V_FFMPEG=/usr/bin/ffmpeg']);
  });

  it("has the C compiler Triton builds its launchers with: triton's own build compiles and loads an extension", async () => {
    const src = [
      '#include <Python.h>',
      'static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }',
      'static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};',
      'static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "t2v_cc_check", NULL, -1, methods};',
      'PyMODINIT_FUNC PyInit_t2v_cc_check(void) { return PyModule_Create(&mod); }',
    ].join('\n');
    const r = await inImage([
      'apps/worker/.venv/bin/python',
      '-c',
      `from triton.runtime.build import compile_module_from_src as c; print(c(${JSON.stringify(src)}, "t2v_cc_check").answer())`,
    ]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.stdout.trim()).toBe('42');
    expect(image.bytes).toBeGreaterThan(0);
  });

  describe('as the chart runs it, with the wan-tiny engine on CPU', () => {
    let pod: ChartPod;

    beforeAll(async () => {
      pod = await ChartPod.render({
        image: image.ref,
        release: `t2v-gpu-${process.pid}`,
        values: ['ci/default-values.yaml'],
        set: { 'config.engine': 'wan-tiny', terminationGracePeriodSeconds: 60, preStopSleepSeconds: 2 },
        podman,
      });
      expect(pod.apiContainer.image).toBe(image.ref);
      await pod.play();
      const seconds = await pod.waitReady(600_000);
      process.stderr.write(`[gpu-image] the wan-tiny pod was ready after ${seconds.toFixed(0)} s\n`);
    }, 700_000);

    afterAll(async () => {
      await pod?.down();
    }, 120_000);

    it('renders a job through the pod port to an MP4 on the data volume, as 10001 with no capabilities', async () => {
      const started = Date.now();
      const r = await fetch(pod.url('/v1/videos'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer: 'wait=300' },
        body: JSON.stringify({ prompt: 'a red fox in the snow', seconds: 1 }),
      });
      const job = (await r.json()) as Any;
      expect(job).toMatchObject({ status: 'completed', model: 'wan-tiny-random' });
      process.stderr.write(
        `[gpu-image] the wan-tiny job took ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      const claim = pod.deployment.spec.template.spec.volumes.find((v: Any) => v.name === 'data');
      const file = path.join(
        await pod.volumePath(claim.persistentVolumeClaim.claimName),
        'videos',
        `${job.id}.mp4`,
      );
      expect(ffprobe(file).codec).toBe('h264');
      const processes = await pod.processes();
      expect(processes.map((p) => p.command).join('\n')).toMatch(/-m t2v_worker/);
      for (const p of processes) {
        expect(p.uid).toBe('10001\t10001\t10001\t10001');
        expect(p.capEff).toBe('0000000000000000');
      }
    }, 400_000);

    it('drains on SIGTERM and exits 0', async () => {
      const stopped = await pod.terminate();
      expect(stopped.exitCode).toBe(0);
      expect(stopped.seconds).toBeLessThan(pod.graceSeconds);
    }, 120_000);
  });
});
