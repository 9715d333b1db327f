/**
 * What runs inside a private systemd instance's mount namespace before systemd itself (see
 * private.ts): a tmpfs on /run/systemd holding /run/systemd/system (which makes `systemd --user`
 * run without systemd as PID 1) and /run/systemd/inaccessible/ (the nodes PID 1 makes at boot, which
 * sandboxed units such as ProtectHome=yes need), mounts shared within the namespace (so the
 * credentials systemd mounts for a unit, LoadCredential=, reach it), and a systemd-journald of the
 * instance's own, so that units have a journal as they would on a normal host.
 *
 * The journald is the system's binary, run as it is on a host, inside the namespace:
 * - its sockets (/run/systemd/journal/{stdout,socket,dev-log}) land on the namespace's own tmpfs
 *   /run/systemd, which is exactly where the user manager connects units' stdout and sends its
 *   own log lines ("Started x.service", "Main process exited, status=3");
 * - its files go to /run/log/journal (Storage=volatile), and /run/log is, in the namespace only,
 *   a bind mount of the instance's `log/` directory: the journal lives in the state dir, readable
 *   from outside with `journalctl -D <instance>/log/journal`, and the host's /run/log is untouched;
 * - its settings are a drop-in on that same tmpfs (/run/systemd/journald.conf.d/), so the host's
 *   journald.conf is not changed: no kernel log, no forwarding to syslog, wall or console.
 * systemd --user is then told to log to the journal (--log-target=journal: an option, not the
 * environment, which units would inherit) once the socket answers. When there is no journald
 * binary, or it does not come up within 3 s, the instance runs without a journal as before (and
 * says so in its log).
 *
 * journald's stdout lines carry _SYSTEMD_CGROUP (the unit's cgroup path) but no _SYSTEMD_UNIT: a
 * journald outside PID 1's tree cannot name the unit from the path. The manager's own lines carry
 * USER_UNIT. src/systemd/journal.ts matches on both.
 */
import { join } from 'node:path';

export const JOURNALD_BINARIES = ['/lib/systemd/systemd-journald', '/usr/lib/systemd/systemd-journald'];

/** The instance's journal directory (for `journalctl -D`), under its directory `dir`. */
export const privateJournalDir = (dir: string) => join(dir, 'log', 'journal');

/** journald's settings inside the namespace. */
export const JOURNALD_CONF = [
  '[Journal]',
  'Storage=volatile',
  'ReadKMsg=no',
  'ForwardToSyslog=no',
  'ForwardToKMsg=no',
  'ForwardToConsole=no',
  'ForwardToWall=no',
  'RuntimeMaxUse=32M',
  'RuntimeMaxFileSize=8M',
].join('\n');

/**
 * The script `sh -c` runs inside the namespace. Its inputs come in the environment (named below)
 * and are removed before systemd starts: systemd --user hands its environment to every unit.
 *   GITFLEET_SYSTEMD_BINARY  systemd
 *   GITFLEET_JOURNALD        systemd-journald, or empty for no journal
 *   GITFLEET_LOG_DIR         the instance's log/ directory (bind-mounted on /run/log)
 *   GITFLEET_JOURNALD_CONF   the drop-in's text
 *   GITFLEET_JOURNALD_LOG    where journald's own stderr goes
 */
export const NAMESPACE_SCRIPT = [
  'target=',
  'mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system || exit 98',
  // What PID 1 makes at boot and sandboxed units need (ProtectHome=, InaccessiblePaths=): the
  // nodes mounted over what a unit may not see.
  '(umask 777 && cd /run/systemd && mkdir inaccessible && cd inaccessible && mkdir dir && : > reg && mkfifo fifo \\',
  '  && mknod chr c 0 0 && mknod blk b 0 0) 2>/dev/null',
  'if [ -n "$GITFLEET_JOURNALD" ]; then',
  '  if mkdir -p /run/systemd/journald.conf.d /run/log "$GITFLEET_LOG_DIR" \\',
  '    && printf "%s\\n" "$GITFLEET_JOURNALD_CONF" > /run/systemd/journald.conf.d/zz-gitfleet.conf \\',
  '    && mount --bind "$GITFLEET_LOG_DIR" /run/log; then',
  '    "$GITFLEET_JOURNALD" </dev/null >>"$GITFLEET_JOURNALD_LOG" 2>&1 &',
  '    i=0',
  '    while [ ! -S /run/systemd/journal/stdout ] && [ $i -lt 300 ]; do sleep 0.01; i=$((i+1)); done',
  '    if [ -S /run/systemd/journal/stdout ]; then target=--log-target=journal',
  '    else echo "gitfleet: systemd-journald did not come up; units have no journal" >&2; fi',
  '  else echo "gitfleet: cannot set up the journal directory; units have no journal" >&2; fi',
  'fi',
  // Mounts systemd makes for a unit in a namespace of its own (credentials) must reach systemd's:
  // shared within this namespace (new peer groups: nothing propagates to the host's).
  'mount --make-rshared / || echo "gitfleet: cannot make mounts shared; LoadCredential= will not work" >&2',
  'set -- "$GITFLEET_SYSTEMD_BINARY"',
  'unset GITFLEET_SYSTEMD_BINARY GITFLEET_NAMESPACE_SCRIPT GITFLEET_JOURNALD GITFLEET_LOG_DIR',
  'unset GITFLEET_JOURNALD_CONF GITFLEET_JOURNALD_LOG',
  'exec "$1" --user $target',
].join('\n');
