/**
 * A throwaway Kubernetes control plane on loopback for the chart's cluster tests: etcd,
 * kube-apiserver, kube-controller-manager and kube-scheduler from the multi-call binary that
 * tools/helm/install-cluster.sh builds, plus the kwok controller that plays the kubelet of fake
 * nodes (it marks scheduled pods running and ready; no container ever runs). Its own CA and
 * certificates, free ports, a kubeconfig and all state live in one temp dir that stop() removes,
 * and every process it started is ended by stop() or, if the test process dies first, by an exit
 * hook.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { parseAllDocuments } from 'yaml';

import { makeCa, signCertificate } from '@t2v/testing/tls';

import { KubeClient, KubeObject, R } from './kube.client';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const TOOLS_BIN = path.join(REPO_ROOT, '.tools/bin');
export const TOOLS_SHARE = path.join(REPO_ROOT, '.tools/share/k8s');
const CONTROL_PLANE = path.join(TOOLS_BIN, 'k8s-control-plane');
const KWOK = path.join(TOOLS_BIN, 'kwok');

/** Label and annotation kwok selects the nodes it manages by. */
const FAKE_NODE_LABEL = 't2v.test/fake-node';

export interface NodeShape {
  name: string;
  cpu: string;
  memory: string;
  gpus?: number;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
}

/** A CPU pool and a GPU pool shaped like a real GPU cluster with the NVIDIA device plugin and GPU feature discovery. */
export function cpuNode(name: string): NodeShape {
  return { name, cpu: '8', memory: '32Gi', labels: { 'node.kubernetes.io/instance-type': 'cpu-8x32' } };
}

export function gpuNode(name: string, gpus = 1): NodeShape {
  return {
    name,
    cpu: '16',
    memory: '64Gi',
    gpus,
    labels: {
      'node.kubernetes.io/instance-type': 'gpu-l4',
      'nvidia.com/gpu.present': 'true',
      'nvidia.com/gpu.product': 'NVIDIA-L4',
      'nvidia.com/gpu.count': String(gpus),
      'nvidia.com/gpu.memory': '23034',
    },
    taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
  };
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when the test process ends without afterAll (a crash, process.exit): no process
  // and no temp dir outlives it.
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (not undefined/false) or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

export function clusterToolsInstalled(): boolean {
  return existsSync(CONTROL_PLANE) && existsSync(KWOK) && existsSync(path.join(TOOLS_SHARE, 'crds'));
}

export class TestCluster {
  readonly client: KubeClient;
  readonly kubeconfig: string;
  private readonly procs: Proc[] = [];
  private stopped = false;

  private constructor(
    readonly dir: string,
    readonly server: string,
    private readonly pki: string,
  ) {
    this.kubeconfig = path.join(dir, 'kubeconfig');
    this.client = new KubeClient({
      server,
      ca: readFileSync(path.join(pki, 'ca.crt')),
      cert: readFileSync(path.join(pki, 'admin.crt')),
      key: readFileSync(path.join(pki, 'admin.key')),
    });
  }

  /** Starts the control plane and kwok, and waits until the API server is ready. */
  static async start(): Promise<TestCluster> {
    if (!clusterToolsInstalled()) {
      throw new Error(`cluster tools are missing in ${TOOLS_BIN}: run bash tools/helm/install-cluster.sh`);
    }
    installExitHook();
    const dir = mkdtempSync(path.join(tmpdir(), 't2v-kube-'));
    liveDirs.add(dir);
    const pki = path.join(dir, 'pki');
    mkdirSync(pki);
    makePki(pki);
    const [etcdClient, etcdPeer, apiPort, kwokPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    const cluster = new TestCluster(dir, server, pki);
    try {
      cluster.writeKubeconfig();
      await cluster.startAll(etcdClient, etcdPeer, apiPort, kwokPort);
      return cluster;
    } catch (e) {
      const logs = cluster.logTails();
      await cluster.stop();
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs}`);
    }
  }

  private writeKubeconfig(): void {
    const p = (f: string) => path.join(this.pki, f);
    writeFileSync(
      this.kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '  - name: t2v-test',
        '    cluster:',
        `      server: ${this.server}`,
        `      certificate-authority: ${p('ca.crt')}`,
        'users:',
        '  - name: t2v-admin',
        '    user:',
        `      client-certificate: ${p('admin.crt')}`,
        `      client-key: ${p('admin.key')}`,
        'contexts:',
        '  - name: t2v-test',
        '    context: {cluster: t2v-test, user: t2v-admin}',
        'current-context: t2v-test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
  }

  private spawn(name: string, file: string, args: string[]): Proc {
    const log = path.join(this.dir, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(file, args, {
      cwd: this.dir,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, KUBECONFIG: this.kubeconfig },
    });
    closeSync(fd);
    live.add(child);
    const exited = new Promise<void>((resolve) =>
      child.on('exit', () => {
        live.delete(child);
        resolve();
      }),
    );
    const proc = { name, child, log, exited };
    this.procs.push(proc);
    return proc;
  }

  private async startAll(
    etcdClient: number,
    etcdPeer: number,
    apiPort: number,
    kwokPort: number,
  ): Promise<void> {
    const pki = (f: string) => path.join(this.pki, f);
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    this.spawn('etcd', CONTROL_PLANE, [
      'etcd',
      `--data-dir=${path.join(this.dir, 'etcd')}`,
      '--name=t2v-test',
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=t2v-test=${peerUrl}`,
      // throwaway state: no fsync keeps a loaded CI disk out of the API server's latency
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    this.spawn('kube-apiserver', CONTROL_PLANE, [
      'kube-apiserver',
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${path.join(this.dir, 'apiserver')}`,
      `--tls-cert-file=${pki('server.crt')}`,
      `--tls-private-key-file=${pki('server.key')}`,
      `--client-ca-file=${pki('ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki('sa.pub')}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      // the loopback address cannot be the kubernetes Service's endpoint
      '--endpoint-reconciler-type=none',
      '--enable-priority-and-fairness=false',
      '--v=1',
    ]);
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await this.client.raw('GET', '/readyz')) !== undefined,
      90_000,
      300,
    );
    this.spawn('kube-controller-manager', CONTROL_PLANE, [
      'kube-controller-manager',
      `--kubeconfig=${this.kubeconfig}`,
      `--authentication-kubeconfig=${this.kubeconfig}`,
      `--authorization-kubeconfig=${this.kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--leader-elect=false',
      `--service-account-private-key-file=${pki('sa.key')}`,
      `--root-ca-file=${pki('ca.crt')}`,
      '--use-service-account-credentials=false',
      '--cluster-name=t2v-test',
      // the HPA reacts within seconds, not the default 15 s
      '--horizontal-pod-autoscaler-sync-period=2s',
      // kwok's heartbeats can lag on a loaded 2-core machine: do not mark nodes NotReady and
      // taint them in the middle of a rollout
      '--node-monitor-grace-period=300s',
      '--v=1',
    ]);
    this.spawn('kube-scheduler', CONTROL_PLANE, [
      'kube-scheduler',
      `--kubeconfig=${this.kubeconfig}`,
      `--authentication-kubeconfig=${this.kubeconfig}`,
      `--authorization-kubeconfig=${this.kubeconfig}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--leader-elect=false',
      '--v=1',
    ]);
    const stages = this.writeStages();
    this.spawn('kwok', KWOK, [
      `--kubeconfig=${this.kubeconfig}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-label-selector=${FAKE_NODE_LABEL}=true`,
      `--server-address=127.0.0.1:${kwokPort}`,
      '--node-ip=127.0.0.1',
      ...stages.map((s) => `--config=${s}`),
      '--v=4', // warnings and errors only
    ]);
    for (const p of this.procs) {
      void p.exited.then(() => {
        if (!this.stopped) process.stderr.write(`cluster test: ${p.name} exited early; see ${p.log}\n`);
      });
    }
    await waitFor(
      'the default ServiceAccount (controller-manager running)',
      async () =>
        (await this.client.find(
          { base: '/api/v1', plural: 'serviceaccounts', namespaced: true },
          'default',
          'default',
        )) ?? false,
      60_000,
    );
    await this.installCrds();
  }

  /** kwok's own node and pod stages, with a pod deleted as soon as it is terminating (no real grace period to honour) and a quicker ready. */
  private writeStages(): string[] {
    const src = path.join(TOOLS_SHARE, 'kwok-stages');
    const dst = path.join(this.dir, 'kwok-stages');
    mkdirSync(dst);
    return readdirSync(src)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => {
        let text = readFileSync(path.join(src, f), 'utf8');
        if (f === 'pod-delete.yaml') {
          // upstream waits until the deletionTimestamp (the pod's grace period, 30 min in this chart)
          text = text.replace(
            /\n\s+jitterDurationFrom:\n\s+expressionFrom: '\.metadata\.deletionTimestamp'/,
            '',
          );
        }
        text = text.replace(/jitterDurationMilliseconds: \d+/g, 'jitterDurationMilliseconds: 300');
        writeFileSync(path.join(dst, f), text);
        return path.join(dst, f);
      });
  }

  /** The CRDs the chart can use (ServiceMonitor, PrometheusRule, PodMonitor, KEDA), from the pinned releases. */
  private async installCrds(): Promise<void> {
    const dir = path.join(TOOLS_SHARE, 'crds');
    const names: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
      for (const doc of parseAllDocuments(readFileSync(path.join(dir, f), 'utf8'))) {
        const obj = doc.toJS() as KubeObject | null;
        if (!obj) continue;
        await this.client.create(R.crds, undefined, obj);
        names.push(obj.metadata.name);
      }
    }
    for (const n of names) {
      await waitFor(`CRD ${n} established`, async () => {
        const crd = await this.client.get(R.crds, undefined, n);
        return (crd.status?.conditions ?? []).some(
          (c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True',
        );
      });
    }
  }

  /** Registers fake nodes (kwok makes them Ready) and waits until all are Ready. */
  async addNodes(shapes: readonly NodeShape[]): Promise<void> {
    for (const s of shapes) {
      const capacity: Record<string, string> = {
        cpu: s.cpu,
        memory: s.memory,
        pods: '110',
        'ephemeral-storage': '200Gi',
      };
      if (s.gpus) capacity['nvidia.com/gpu'] = String(s.gpus);
      await this.client.create(R.nodes, undefined, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: s.name,
          labels: {
            'kubernetes.io/hostname': s.name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'topology.kubernetes.io/zone': 'zone-a',
            [FAKE_NODE_LABEL]: 'true',
            ...s.labels,
          },
          annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
        },
        spec: { taints: s.taints ?? [] },
        status: { capacity, allocatable: capacity },
      });
    }
    for (const s of shapes) {
      await waitFor(`node ${s.name} Ready`, async () => {
        const n = await this.client.get(R.nodes, undefined, s.name);
        return (n.status?.conditions ?? []).some(
          (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
        );
      });
    }
  }

  async removeNode(name: string): Promise<void> {
    await this.client.delete(R.nodes, undefined, name);
  }

  /** Last lines of every component's log, for a failure message. */
  logTails(lines = 15): string {
    return this.procs
      .map((p) => {
        const text = existsSync(p.log)
          ? readFileSync(p.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
          : '';
        return `--- ${p.name} (${p.log}) ---\n${text}`;
      })
      .join('\n');
  }

  /** Ends every process (SIGTERM, then SIGKILL after 5 s), in reverse start order, and removes the temp dir. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of [...this.procs].reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = await Promise.race([
        p.exited.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000))),
      ]);
      clearTimeout(timer);
      if (!killed) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    liveDirs.delete(this.dir);
    if (process.env.T2V_KEEP_CLUSTER_DIR) process.stderr.write(`cluster test: kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A CA, the API server's serving certificate and an admin client certificate (system:masters), made with openssl. */
function makePki(dir: string): void {
  const ssl = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  makeCa(dir, 'ca', '/CN=t2v-test-ca');
  signCertificate(dir, {
    name: 'server',
    subject: '/CN=kube-apiserver',
    extensions:
      'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth',
  });
  signCertificate(dir, {
    name: 'admin',
    subject: '/O=system:masters/CN=t2v-admin',
    extensions: 'extendedKeyUsage=clientAuth',
  });
  ssl('genrsa', '-out', 'sa.key', '2048');
  ssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
}
