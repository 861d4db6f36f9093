/** Every pod the chart renders meets the "restricted" Pod Security Standard, in every scenario. */
import { K8sObject } from '../src/manifests';
import { Any, render, scenarios } from './chart.harness';

const ALLOWED_VOLUMES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];

function podSpecs(objects: K8sObject[]): Array<[string, Any]> {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind))
    .map((o) => [`${o.kind}/${o.metadata.name}`, (o as Any).spec.template.spec]);
}

/** The checks of https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted). */
function violations(name: string, pod: Any): string[] {
  const out: string[] = [];
  const psc = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) out.push(`${name}: host namespaces`);
  for (const v of pod.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name')!;
    if (!ALLOWED_VOLUMES.includes(type)) out.push(`${name}: volume ${v.name} is ${type}`);
  }
  const podSeccomp = psc.seccompProfile?.type;
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = c.securityContext ?? {};
    const where = `${name} container ${c.name}`;
    if (sc.privileged) out.push(`${where}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) out.push(`${where}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) out.push(`${where}: runs as uid 0`);
    if (!['RuntimeDefault', 'Localhost'].includes(sc.seccompProfile?.type ?? podSeccomp))
      out.push(`${where}: no seccomp profile`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${where}: capabilities not dropped`);
    const added = (sc.capabilities?.add ?? []).filter((cap: string) => cap !== 'NET_BIND_SERVICE');
    if (added.length) out.push(`${where}: adds ${added.join(',')}`);
    for (const p of c.ports ?? []) if (p.hostPort) out.push(`${where}: hostPort ${p.hostPort}`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${where}: writable root filesystem`);
  }
  return out;
}

describe.each(scenarios())('%s', (scenario) => {
  it('renders only pods that meet the restricted Pod Security Standard', async () => {
    const pods = podSpecs(await render([scenario]));
    expect(pods.length).toBeGreaterThanOrEqual(1);
    expect(pods.flatMap(([name, pod]) => violations(name, pod))).toEqual([]);
  });
});

it('the check itself finds a privileged root pod', () => {
  expect(
    violations('Deployment/x', {
      hostNetwork: true,
      volumes: [{ name: 'h', hostPath: { path: '/' } }],
      containers: [
        {
          name: 'c',
          securityContext: { privileged: true, runAsUser: 0 },
          ports: [{ containerPort: 1, hostPort: 1 }],
        },
      ],
    }),
  ).toEqual([
    'Deployment/x: host namespaces',
    'Deployment/x: volume h is hostPath',
    'Deployment/x container c: privileged',
    'Deployment/x container c: allowPrivilegeEscalation is not false',
    'Deployment/x container c: runAsNonRoot is not true',
    'Deployment/x container c: runs as uid 0',
    'Deployment/x container c: no seccomp profile',
    'Deployment/x container c: capabilities not dropped',
    'Deployment/x container c: hostPort 1',
    'Deployment/x container c: writable root filesystem',
  ]);
});
