/**
 * systemd's verdict on many unit files at once, for corpora of real units (test/unit/lint/debian/):
 * one `systemd-analyze verify` call per batch of files instead of one per file, each finding
 * attributed to the file it names (`PATH:LINE: ...`) or to the unit it names (`NAME.service: ...`).
 *
 * "systemd flags a file" means, as for the hand-made corpus (oracle.test.ts):
 *  1. `SYSTEMD_UNIT_PATH= systemd-analyze verify --man=no --recursive-errors=no FILES...` reports
 *     a finding for it (`--user` for user units), host-dependent ones excepted (a binary that is not
 *     installed here);
 *  2. the same without `--recursive-errors=no` reports a finding for it (only that mode parses
 *     dependency names and warns about Before= a .device or a relaxed user name); findings about
 *     the host's missing units (the transaction it starts needs sysinit.target) are dropped;
 *  3. for a file with an [Install] section, `systemctl --root=TMP enable NAME` fails (a template
 *     enabled as an instance, NAME@gitfleet.service).
 * A batch never holds two files of the same unit name (systemd would load only one of them), nor
 * two services of the same BusName= (systemd refuses the second).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { enable, pool, runTool } from './oracle.js';

export interface JudgedFile {
  /** Absolute path. */
  path: string;
  /** A user unit (verified with --user). */
  user: boolean;
  /** The file has an [Install] section (checked with systemctl enable). */
  install: boolean;
}

/** Findings that depend on the machine running the test, not on the unit file. */
export const HOST_DEPENDENT: readonly RegExp[] = [
  / is not executable: No such file or directory$/,
  // Without --recursive-errors=no, verify also starts a transaction, which needs the host's units.
  /: Failed to create \S+: Unit \S+ not found\.$/,
];

/** Lines that only accompany a finding reported on its own line with the unit's name. */
const COMPANIONS: readonly RegExp[] = [/^Failed to put bus name to hashmap: File exists$/];

const UNIT_LINE =
  /^([A-Za-z0-9:_.\\@-]+\.(?:service|socket|timer|path|mount|automount|swap|target|slice|device)): (.*)$/;

/**
 * Groups files into batches of about `size` files: whole directories (a package's units stay
 * together), no unit name twice, one mode (system or user) per batch.
 */
function batches(files: readonly JudgedFile[], size: number): JudgedFile[][] {
  const dirs = new Map<string, JudgedFile[]>();
  for (const f of files) dirs.set(dirname(f.path), [...(dirs.get(dirname(f.path)) ?? []), f]);
  const out: { files: JudgedFile[]; names: Set<string>; user: boolean }[] = [];
  for (const group of dirs.values()) {
    // Unit names, and D-Bus names: systemd refuses a second service that claims the same BusName=.
    const names = group.flatMap((f) => [
      basename(f.path),
      ...[...readFileSync(f.path, 'latin1').matchAll(/^BusName=(.*)$/gm)].map((m) => `bus:${m[1]!.trim()}`),
    ]);
    const user = group[0]!.user;
    let b = out.find((x) => x.user === user && x.files.length < size && !names.some((n) => x.names.has(n)));
    if (!b) {
      b = { files: [], names: new Set(), user };
      out.push(b);
    }
    b.files.push(...group);
    for (const n of names) b.names.add(n);
  }
  return out.map((b) => b.files);
}

/** The name `systemctl enable` gets: a template as one of its instances, as an admin would enable it. */
const enableName = (path: string) => basename(path).replace(/@\./, '@gitfleet.');

/** [Install]: one `systemctl enable` for the batch; when it fails, one per file to know which. */
async function enableBatch(files: readonly JudgedFile[], verdicts: Map<string, string[]>) {
  const wanted = files.filter((f) => f.install);
  if (wanted.length === 0) return;
  const all = files.map((f) => f.path);
  const together = await enable(
    all,
    wanted.map((f) => enableName(f.path)),
  );
  if (together.code === 0) return;
  for (const f of wanted) {
    const dir = dirname(f.path);
    const en = await enable(
      all.filter((p) => dirname(p) === dir),
      [enableName(f.path)],
    );
    if (en.code !== 0) verdicts.get(f.path)!.push(...en.lines.map((l) => `systemctl enable: ${l}`));
  }
}

async function verifyBatch(files: readonly JudgedFile[], runtimeDir: string, verdicts: Map<string, string[]>) {
  const byName = new Map(files.map((f) => [basename(f.path), f.path] as const));
  const paths = new Set(files.map((f) => f.path));
  const user = files[0]?.user === true;
  const env = { ...process.env, SYSTEMD_UNIT_PATH: '', SYSTEMD_LOG_COLOR: '0', TZ: 'UTC', XDG_RUNTIME_DIR: runtimeDir };
  const base = ['verify', '--man=no', ...(user ? ['--user'] : [])];
  const plain = await runTool('systemd-analyze', [...base, '--recursive-errors=no', ...paths], { env });
  const deps = await runTool('systemd-analyze', [...base, ...paths], { env });
  const add = (path: string, line: string) => {
    const list = verdicts.get(path)!;
    if (!list.includes(line)) list.push(line);
  };
  for (const run of [plain, deps]) {
    for (const line of run.lines) {
      if (HOST_DEPENDENT.some((re) => re.test(line)) || COMPANIONS.some((re) => re.test(line))) continue;
      const at = /^(\/[^:]+):\d+: /.exec(line);
      if (at && paths.has(at[1]!)) {
        add(at[1]!, line);
        continue;
      }
      const unit = UNIT_LINE.exec(line) ?? /^Unit (\S+) (?:failed to load|has a bad unit file setting)/.exec(line);
      const path = unit && byName.get(unit[1]!);
      if (path) {
        add(path, line);
        continue;
      }
      // A notice that names only the user: the files of the batch that set that user or group.
      const user = /^Accepting user\/group name '(.*)', which does not match strict/.exec(line)?.[1];
      const setters = user === undefined ? [] : files.filter((f) => setsUser(f.path, user));
      if (setters.length > 0) for (const f of setters) add(f.path, line);
      else if (run === plain) verdicts.get('')!.push(line);
    }
  }
}

function setsUser(path: string, name: string): boolean {
  const re = /^(?:User|Group|SocketUser|SocketGroup|SupplementaryGroups)=(.*)$/gm;
  return [...readFileSync(path, 'utf8').matchAll(re)].some((m) => m[1]!.split(/\s+/).includes(name));
}

/**
 * systemd's findings per file (path -> lines; an empty list: systemd accepts the file). Findings
 * that name no file of the corpus are returned under the key ''.
 */
export async function judgeFiles(files: readonly JudgedFile[], opts: { batch?: number } = {}) {
  const verdicts = new Map<string, string[]>([['', []]]);
  for (const f of files) verdicts.set(f.path, []);
  const runtimeDir = await mkdtemp(join(tmpdir(), 'gitfleet-judge-'));
  try {
    await pool(batches(files, opts.batch ?? 60), 2, async (b) => {
      await verifyBatch(b, runtimeDir, verdicts);
      await enableBatch(b, verdicts);
    });
  } finally {
    await rm(runtimeDir, { recursive: true, force: true });
  }
  return verdicts;
}
