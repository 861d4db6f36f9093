import path from 'node:path';

import ts from 'typescript';

import { K8sObject } from './manifests';

/** Packages whose `.d.ts` files type each API group; the core kinds come from kubernetes-models. */
const GROUP_PACKAGES: Record<string, string> = {
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'keda.sh': '@kubernetes-models/keda',
};

export interface TypeCheckResult {
  kind: string;
  name: string;
  /** compiler messages: unknown fields, wrong types, missing required fields. */
  errors: string[];
}

function typeModule(apiVersion: string, kind: string): string {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const pkg = GROUP_PACKAGES[group] ?? 'kubernetes-models';
  return `${pkg}/${apiVersion}/${kind}`;
}

/**
 * Checks rendered objects against the TypeScript declarations of kubernetes-models (and the
 * prometheus-operator and KEDA models): each object becomes an object literal typed with its
 * kind's interface, so the compiler's excess-property check reports fields that do not exist,
 * which the models' runtime `validate()` lets through.
 */
export function typeCheckManifests(objects: readonly K8sObject[]): TypeCheckResult[] {
  // A file that exists only in memory, beside this one, so node_modules resolves from the repo.
  const virtual = path.resolve(__dirname, '__rendered_manifests__.ts');
  const imports = objects.map(
    (o, i) => `import type { I${o.kind} as T${i} } from ${JSON.stringify(typeModule(o.apiVersion, o.kind))};`,
  );
  const bodies = objects.map((o, i) => `export const o${i}: T${i} = ${JSON.stringify(o, null, 2)};`);
  const text = [...imports, ...bodies].join('\n');
  // first line of each object's declaration, to map diagnostics back to objects
  const firstLine: number[] = [];
  let line = imports.length;
  for (const body of bodies) {
    firstLine.push(line);
    line += body.split('\n').length;
  }

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) =>
    path.resolve(fileName) === virtual
      ? ts.createSourceFile(fileName, text, languageVersion, true)
      : getSourceFile(fileName, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => path.resolve(f) === virtual || fileExists(f);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (path.resolve(f) === virtual ? text : readFile(f));

  const program = ts.createProgram([virtual], options, host);
  const source = program.getSourceFile(virtual)!;
  const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];

  const results: TypeCheckResult[] = objects.map((o) => ({
    kind: o.kind,
    name: o.metadata?.name ?? '',
    errors: [],
  }));
  const importErrors: string[] = [];
  for (const d of diagnostics) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const at = d.start === undefined ? -1 : source.getLineAndCharacterOfPosition(d.start).line;
    let index = -1;
    for (let i = 0; i < firstLine.length && at >= firstLine[i]!; i++) index = i;
    if (index >= 0) results[index]!.errors.push(msg);
    else importErrors.push(msg);
  }
  if (importErrors.length) throw new Error(`cannot load the model types:\n${importErrors.join('\n')}`);
  return results;
}
