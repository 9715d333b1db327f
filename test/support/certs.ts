/**
 * TLS material for tests, made with openssl: a CA, a server certificate for 127.0.0.1 and client
 * certificates (each with its own common name: etcd takes a client certificate's CN as the user
 * name when a request carries no password token).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Write ca.crt/ca.key, server.crt/server.key and, for each client name, NAME.crt/NAME.key with
 * CN `cn` (default gitfleet-NAME) into `dir`.
 */
export function makeCerts(dir: string, clients: { name: string; cn?: string }[] = [{ name: 'client' }]): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = (out: string) => ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', out);
  ecKey('ca.key');
  ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=gitfleet test CA', '-days', '1', '-out', 'ca.crt');
  const certs = [
    { name: 'server', cn: 'gitfleet-server', ext: 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth' },
    ...clients.map((c) => ({ name: c.name, cn: c.cn ?? `gitfleet-${c.name}`, ext: 'extendedKeyUsage=clientAuth' })),
  ];
  for (const { name, cn, ext } of certs) {
    ecKey(`${name}.key`);
    ssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  }
}
