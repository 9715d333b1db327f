/**
 * `gitfleet auth setup` and `gitfleet auth add-machine ID`: etcd's users and roles for gitfleet
 * (src/store/auth.ts), as etcd's root user. Prints who got what and where each password file is;
 * never a password.
 */
import { readFileSync } from 'node:fs';
import { machineIdProblem } from '../fleet/machine-id.js';
import { AuthSetupError, setupAuth, type AuthSetupResult } from '../store/auth.js';
import { DEFAULT_PREFIX } from '../store/checks.js';
import type { AccessRole } from '../store/keys.js';
import { DEFAULT_ETCD, StoreConfigError, parseEndpoints, readPem } from '../store/open.js';
import { writeOut, type StoreFlags } from './common.js';
import { CliError, UsageError } from './errors.js';

interface AuthFlags extends StoreFlags {
  rootPasswordFile?: string;
  credentialsDir: string;
}

function rootPassword(flags: AuthFlags): string {
  if (flags.rootPasswordFile !== undefined) {
    let s: string;
    try {
      s = readFileSync(flags.rootPasswordFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(
        `--root-password-file: cannot read ${flags.rootPasswordFile}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      );
    }
    if (!s) throw new UsageError(`--root-password-file: ${flags.rootPasswordFile} is empty`);
    return s;
  }
  const env = process.env.GITFLEET_ETCD_ROOT_PASSWORD;
  if (env) return env;
  throw new UsageError(
    "etcd's root password is needed: give --root-password-file FILE or set GITFLEET_ETCD_ROOT_PASSWORD (on the first " +
      'run it becomes the root password)',
  );
}

const COMMAND: Record<AccessRole['kind'], string> = {
  controller: 'gitfleet controller',
  engine: 'gitfleet engine',
  machine: 'gitfleet agent',
  viewer: 'gitfleet status',
  operator: 'gitfleet rollout pause',
};

async function runSetup(flags: AuthFlags, roles: AccessRole[], enable: boolean): Promise<AuthSetupResult> {
  const password = rootPassword(flags);
  let endpoints: string[];
  let tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  try {
    endpoints = parseEndpoints(flags.etcd ?? (process.env.GITFLEET_ETCD || DEFAULT_ETCD));
    tls = {
      ca: readPem('--etcd-ca', flags.etcdCa),
      cert: readPem('--etcd-cert', flags.etcdCert),
      key: readPem('--etcd-key', flags.etcdKey),
    };
  } catch (e) {
    if (e instanceof StoreConfigError) throw new UsageError(e.message);
    throw e;
  }
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new UsageError('--etcd-cert and --etcd-key go together: give both or neither');
  if ((tls.ca || tls.cert) && !endpoints[0]!.startsWith('https://'))
    throw new UsageError('--etcd-ca/--etcd-cert/--etcd-key need https:// endpoints in --etcd');
  try {
    return await setupAuth(
      {
        endpoints,
        prefix: flags.prefix ?? DEFAULT_PREFIX,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        rootPassword: password,
        credentialsDir: flags.credentialsDir,
      },
      roles,
      enable,
    );
  } catch (e) {
    if (e instanceof AuthSetupError) throw new CliError(e.message);
    throw e;
  }
}

function report(r: AuthSetupResult): void {
  const lines: string[] = [];
  for (const c of r.components) {
    lines.push(`${c.user}: ${c.action}; password in ${c.passwordFile}`);
    lines.push(`  ${COMMAND[c.role.kind]} --etcd-user ${c.user} --etcd-password-file ${c.passwordFile}`);
  }
  lines.push(
    r.wasEnabled ? 'auth: already on' : r.enabled ? 'auth: turned on' : 'auth: still off (run gitfleet auth setup)',
  );
  writeOut(`${lines.join('\n')}\n`);
}

export async function setup(flags: AuthFlags): Promise<number> {
  report(
    await runSetup(flags, [{ kind: 'controller' }, { kind: 'engine' }, { kind: 'viewer' }, { kind: 'operator' }], true),
  );
  return 0;
}

export async function addMachine(id: string, flags: AuthFlags): Promise<number> {
  const problem = machineIdProblem(id);
  if (problem) throw new UsageError(problem);
  report(await runSetup(flags, [{ kind: 'machine', id }], false));
  return 0;
}
