/**
 * etcd's users and roles for gitfleet (`gitfleet auth setup`, `gitfleet auth add-machine`): one
 * role and one user per component, each role holding exactly the key ranges roleGrants() lists
 * (src/store/keys.ts), then auth turned on. Safe to run again: roles are brought to exactly their
 * grants, users keep the password their credentials file holds, and nothing else is touched.
 *
 * etcd's permissions are byte ranges [key, range_end) of absolute keys, so the store's namespace
 * prefix is part of every grant, and of every name (two gitfleets on one etcd do not share users).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdRoleExistsError,
  EtcdUserExistsError,
  EtcdUserNotFoundError,
  type IOptions,
} from 'etcd3';
import { normalizePrefix } from './checks.js';
import { prefixEnd } from './etcd-requests.js';
import { roleGrants, type AccessRole, type KeyGrant } from './keys.js';

export interface AuthAdminOptions {
  endpoints: string[];
  /** The store's namespace (default /gitfleet/). */
  prefix?: string;
  /** PEM contents, as for EtcdStore. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** etcd's root user's password: set on the first run (when auth is still off), used after. */
  rootPassword: string;
  /** Where each component's password file is written (created 0700; files 0600). */
  credentialsDir: string;
  callTimeoutMs?: number;
}

export interface ComponentCredentials {
  role: AccessRole;
  /** etcd user (and role) name. */
  user: string;
  passwordFile: string;
  /** What this run did for the user: created it, set the password from a new file, or nothing new. */
  action: 'created' | 'password-reset' | 'unchanged';
}

export interface AuthSetupResult {
  /** Auth was already on before this run. */
  wasEnabled: boolean;
  enabled: boolean;
  components: ComponentCredentials[];
}

/** Bad root credentials or an etcd that refuses the setup: the CLI prints the message (exit 1). */
export class AuthSetupError extends Error {
  override name = 'AuthSetupError';
}

/** The name stem of a namespace: "/gitfleet/" -> "gitfleet", "/a/b/" -> "a-b". */
function stem(prefix: string): string {
  const s = normalizePrefix(prefix)
    .replace(/^\/+|\/+$/g, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '-');
  return s || 'gitfleet';
}

/** The etcd user (and role) name of a component under a namespace. */
export function authUserName(prefix: string, role: AccessRole): string {
  const base = stem(prefix);
  return role.kind === 'machine' ? `${base}-machine-${role.id}` : `${base}-${role.kind}`;
}

type PermType = 'Read' | 'Write' | 'Readwrite';
interface Perm {
  permType: PermType;
  key: Buffer;
  rangeEnd: Buffer;
}

/** A grant as etcd holds it: absolute key, range end (empty for one key), permission type. */
export function etcdPermission(prefix: string, g: KeyGrant): Perm {
  const key = Buffer.from(normalizePrefix(prefix) + g.key);
  return {
    permType: g.access === 'read' ? 'Read' : 'Readwrite',
    key,
    rangeEnd: g.prefix ? prefixEnd(key) : Buffer.alloc(0),
  };
}

const permId = (p: Perm) => `${p.permType} ${p.key.toString('hex')} ${p.rangeEnd.toString('hex')}`;

function readPassword(file: string): string | null {
  try {
    const s = readFileSync(file, 'utf8').trim();
    return s || null;
  } catch {
    return null;
  }
}

/** Write a secret owner-only, atomically (a reader never sees half a password). */
function writeSecret(file: string, secret: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${secret}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

function clientOptions(opts: AuthAdminOptions, asRoot: boolean): IOptions {
  const timeout = opts.callTimeoutMs ?? 3000;
  const o: IOptions = {
    hosts: opts.endpoints,
    dialTimeout: timeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
  };
  if (opts.ca || opts.cert) {
    o.credentials = {
      rootCertificate: (opts.ca ?? null) as Buffer,
      ...(opts.cert ? { certChain: opts.cert } : {}),
      ...(opts.key ? { privateKey: opts.key } : {}),
    };
  }
  if (asRoot) o.auth = { username: 'root', password: opts.rootPassword };
  return o;
}

/** Connect as root; an etcd whose auth is still off says so, and is then used without credentials. */
async function connect(opts: AuthAdminOptions): Promise<{ client: Etcd3; wasEnabled: boolean }> {
  const root = new Etcd3(clientOptions(opts, true));
  try {
    await root.auth.roleList({});
    return { client: root, wasEnabled: true };
  } catch (e) {
    root.close();
    if (e instanceof EtcdAuthenticationFailedError)
      throw new AuthSetupError(`etcd ${opts.endpoints.join(',')} refused the root password (auth is on)`);
    if (!/authentication is not enabled/.test((e as Error).message))
      throw new AuthSetupError(`etcd ${opts.endpoints.join(',')}: ${(e as Error).message}`);
  }
  return { client: new Etcd3(clientOptions(opts, false)), wasEnabled: false };
}

/** etcd refuses to turn auth on without a root user holding the root role. */
async function ensureRoot(client: Etcd3, password: string): Promise<void> {
  try {
    await client.auth.userAdd({ name: 'root', password });
  } catch (e) {
    if (!(e instanceof EtcdUserExistsError)) throw e;
    await client.auth.userChangePassword({ name: 'root', password });
  }
  await client.auth.userGrantRole({ user: 'root', role: 'root' });
}

/** Bring a role to exactly `wanted`: grant what is missing, revoke what is not wanted. */
async function syncRole(client: Etcd3, name: string, wanted: Perm[]): Promise<void> {
  try {
    await client.auth.roleAdd({ name });
  } catch (e) {
    if (!(e instanceof EtcdRoleExistsError)) throw e;
  }
  const have = (await client.auth.roleGet({ role: name })).perm.map(
    (p): Perm => ({ permType: p.permType as PermType, key: p.key, rangeEnd: p.range_end ?? Buffer.alloc(0) }),
  );
  const wantIds = new Set(wanted.map(permId));
  const haveIds = new Set(have.map(permId));
  for (const p of have)
    if (!wantIds.has(permId(p)))
      await client.auth.roleRevokePermission({ role: name, key: p.key, range_end: p.rangeEnd });
  for (const p of wanted)
    if (!haveIds.has(permId(p)))
      await client.auth.roleGrantPermission({
        name,
        perm: { permType: p.permType, key: p.key, range_end: p.rangeEnd },
      });
}

/** Does etcd take this user's password? Unknown (null) while auth is off: etcd authenticates no one then. */
async function passwordWorks(client: Etcd3, name: string, password: string, authOn: boolean): Promise<boolean> {
  if (!authOn) return false;
  try {
    await client.auth.authenticate({ name, password });
    return true;
  } catch (e) {
    if (e instanceof EtcdAuthenticationFailedError) return false;
    throw e;
  }
}

/**
 * The user exists, holds only its role, and has the password its file holds (a new one if there is
 * no file). An unchanged password is not set again: etcd drops a user's tokens when it is.
 */
async function syncUser(
  client: Etcd3,
  name: string,
  file: string,
  authOn: boolean,
): Promise<ComponentCredentials['action']> {
  const known = readPassword(file);
  const password = known ?? randomBytes(24).toString('base64url');
  // The file first: should etcd fail next, the next run sets the password the file holds.
  if (!known) writeSecret(file, password);
  let action: ComponentCredentials['action'] = 'unchanged';
  let roles: string[] = [];
  try {
    roles = (await client.auth.userGet({ name })).roles ?? [];
    if (!known || !(await passwordWorks(client, name, password, authOn))) {
      await client.auth.userChangePassword({ name, password });
      if (!known) action = 'password-reset';
    }
  } catch (e) {
    if (!(e instanceof EtcdUserNotFoundError)) throw e;
    await client.auth.userAdd({ name, password });
    action = 'created';
  }
  for (const r of roles) if (r !== name) await client.auth.userRevokeRole({ name, role: r });
  if (!roles.includes(name)) await client.auth.userGrantRole({ user: name, role: name });
  return action;
}

/**
 * Create (or bring up to date) the roles and users of `roles`, write their password files, and
 * turn auth on when `enable` (after the root user exists). Idempotent.
 */
export async function setupAuth(
  opts: AuthAdminOptions,
  roles: AccessRole[],
  enable: boolean,
): Promise<AuthSetupResult> {
  const prefix = opts.prefix ?? '/gitfleet/';
  mkdirSync(opts.credentialsDir, { recursive: true, mode: 0o700 });
  chmodSync(opts.credentialsDir, 0o700);
  const { client, wasEnabled } = await connect(opts);
  try {
    const components: ComponentCredentials[] = [];
    try {
      if (!wasEnabled) await ensureRoot(client, opts.rootPassword);
      for (const role of roles) {
        const user = authUserName(prefix, role);
        const passwordFile = join(opts.credentialsDir, `${user}.password`);
        await syncRole(
          client,
          user,
          roleGrants(role).map((g) => etcdPermission(prefix, g)),
        );
        const action = await syncUser(client, user, passwordFile, wasEnabled);
        components.push({ role, user, passwordFile, action });
      }
      if (enable && !wasEnabled) await client.auth.authEnable({});
    } catch (e) {
      if (e instanceof AuthSetupError) throw e;
      throw new AuthSetupError(`etcd ${opts.endpoints.join(',')}: ${(e as Error).message}`);
    }
    return { wasEnabled, enabled: wasEnabled || enable, components };
  } finally {
    client.close();
  }
}
