/**
 * Certificates for tests, made with openssl: a CA (`ca.crt`, `ca.key`) and the certificates it
 * signs, each `<name>.crt` + `<name>.key` (EC P-256, valid one day). A server certificate names the
 * IPs it is valid for; any other is a client certificate, whose common name matters: etcd takes a
 * client certificate's CN as the user name when a request carries no password token.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertSpec {
  name: string;
  /** The certificate's common name. Default `gitfleet-<name>`. */
  cn?: string;
  /** IP addresses for a server certificate (subjectAltName); none: a client certificate. */
  serverIps?: string[];
}

/** A server certificate for etcd listening on 127.0.0.1, as most tests run it. */
export const LOCAL_SERVER: CertSpec = { name: 'server', serverIps: ['127.0.0.1'] };

/** Write ca.crt/ca.key and, for each spec, NAME.crt/NAME.key into `dir`. */
export function makeCerts(dir: string, certs: CertSpec[]): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = (out: string) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', out);
  ecKey('ca.key');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=gitfleet test CA', '-days', '1', '-out', 'ca.crt');
  for (const c of certs) {
    const ext =
      (c.serverIps ? `subjectAltName=${c.serverIps.map((ip) => `IP:${ip}`).join(',')}\n` : '') +
      `extendedKeyUsage=${c.serverIps ? 'serverAuth' : 'clientAuth'}\n`;
    ecKey(`${c.name}.key`);
    ssl(
      'req',
      '-new',
      '-key',
      `${c.name}.key`,
      '-subj',
      `/CN=${c.cn ?? `gitfleet-${c.name}`}`,
      '-out',
      `${c.name}.csr`,
    );
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
