/**
 * Certificates for tests, made with openssl: a CA (`ca.crt`, `ca.key`) and certificates it signs,
 * each `<name>.crt` + `<name>.key` (EC P-256, valid one day). A server certificate names the IPs
 * it is valid for; a client certificate is for clientAuth.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertSpec {
  name: string;
  /** IP addresses for a server certificate (subjectAltName); none: a client certificate. */
  serverIps?: string[];
  /** Also usable as a client (etcd peers are both). */
  alsoClient?: boolean;
}

export function makeCerts(dir: string, certs: CertSpec[]): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = (out: string) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', out);
  ecKey('ca.key');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=gitfleet test CA', '-days', '1', '-out', 'ca.crt');
  for (const c of certs) {
    const usage = c.serverIps ? (c.alsoClient ? 'serverAuth,clientAuth' : 'serverAuth') : 'clientAuth';
    const ext =
      (c.serverIps ? `subjectAltName=${c.serverIps.map((ip) => `IP:${ip}`).join(',')}\n` : '') +
      `extendedKeyUsage=${usage}\n`;
    ecKey(`${c.name}.key`);
    ssl('req', '-new', '-key', `${c.name}.key`, '-subj', `/CN=gitfleet-${c.name}`, '-out', `${c.name}.csr`);
    writeFileSync(join(dir, `${c.name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${c.name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${c.name}.ext`,
      '-out',
      `${c.name}.crt`,
    );
  }
}
