// Validates Kubernetes objects offline against the schemas of kubernetes-models (core kinds),
// @kubernetes-models/prometheus-operator and @kubernetes-models/keda. The latter two ship ES
// modules only, so this runs as its own Node process (jest's CommonJS runtime cannot load them).
// stdin: a JSON array of objects. stdout: a JSON array of { kind, name, apiVersion, error }.
const GROUP_MODULES = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'keda.sh': '@kubernetes-models/keda',
};

function modulePath(apiVersion) {
  const slash = apiVersion.indexOf('/');
  if (slash < 0) return `kubernetes-models/${apiVersion}`; // core group: v1
  const group = apiVersion.slice(0, slash);
  const pkg = GROUP_MODULES[group] ?? 'kubernetes-models';
  return `${pkg}/${apiVersion}`;
}

async function validateOne(obj) {
  const { apiVersion, kind } = obj ?? {};
  const name = obj?.metadata?.name ?? '';
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    return { apiVersion, kind, name, error: 'object has no apiVersion or kind' };
  }
  let mod;
  try {
    mod = await import(modulePath(apiVersion));
  } catch (e) {
    return { apiVersion, kind, name, error: `no schema for ${apiVersion}: ${e.message}` };
  }
  const Model = mod[kind];
  if (typeof Model !== 'function')
    return { apiVersion, kind, name, error: `no schema for ${apiVersion} ${kind}` };
  try {
    new Model(obj).validate();
    return { apiVersion, kind, name, error: null };
  } catch (e) {
    return { apiVersion, kind, name, error: e.message };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const objects = JSON.parse(input);
const results = [];
for (const obj of objects) results.push(await validateOne(obj));
process.stdout.write(JSON.stringify(results));
