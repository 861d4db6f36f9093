import { execFile } from 'node:child_process';
import path from 'node:path';

import { parseAllDocuments } from 'yaml';

/** A rendered Kubernetes object, as far as the tests need to know it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface ValidationResult {
  apiVersion: string;
  kind: string;
  name: string;
  /** null when the object matches its schema. */
  error: string | null;
}

/** Parses `helm template` output; YAML errors throw, empty documents are dropped. */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML in rendered chart: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

/**
 * Validates objects against the kubernetes-models schemas in a child Node process
 * (validate-manifests.mjs; the prometheus-operator and KEDA models are ES modules only).
 */
export function validateManifests(objects: readonly K8sObject[]): Promise<ValidationResult[]> {
  const script = path.join(__dirname, 'validate-manifests.mjs');
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [script],
      { maxBuffer: 64 * 1024 * 1024, timeout: 60_000, cwd: path.resolve(__dirname, '../../..') },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`validate-manifests failed: ${stderr || error.message}`));
          return;
        }
        resolve(JSON.parse(stdout) as ValidationResult[]);
      },
    );
    child.stdin!.end(JSON.stringify(objects));
  });
}

/** The one object of `kind` (and `name`, when given); throws when there is not exactly one. */
export function one<T = K8sObject>(
  objects: readonly K8sObject[],
  kind: string,
  name?: string,
): T & K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  }
  return found[0] as T & K8sObject;
}

/** Every object of `kind`, in render order. */
export function kinds<T = K8sObject>(objects: readonly K8sObject[], kind: string): Array<T & K8sObject> {
  return objects.filter((o) => o.kind === kind) as Array<T & K8sObject>;
}
