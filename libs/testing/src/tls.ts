/**
 * Test certificates made with openssl in a directory: certificate authorities and the
 * certificates they sign (RSA 2048, valid two days). Files are `<name>.key` and `<name>.crt`.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA: `<name>.key`, `<name>.crt`. */
export function makeCa(dir: string, name: string, subject: string): void {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-subj',
    subject,
  );
}

/**
 * A certificate for `subject` signed by the CA `ca` (made by `makeCa` in the same directory), with
 * the X.509 v3 `extensions` given as openssl config lines (e.g. `subjectAltName=IP:127.0.0.1`).
 */
export function signCertificate(
  dir: string,
  opts: { name: string; subject: string; extensions: string; ca?: string },
): void {
  const { name, subject, extensions, ca = 'ca' } = opts;
  writeFileSync(join(dir, `${name}.ext`), `${extensions}\n`);
  openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  );
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  );
}
