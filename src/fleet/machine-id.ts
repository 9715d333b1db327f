/**
 * The one rule for machine ids, used by the agent, the CLI and `up`. An id becomes an etcd key
 * segment (`schedule/<id>/...`), part of a private systemd's instance name (which names a cgroup)
 * and a label in listings: 1-128 of [A-Za-z0-9_.-], starting with a letter or digit. No ':' or
 * '/': neither is safe in a key segment or a cgroup name.
 */
const MACHINE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Why `id` cannot be a machine id, or null when it can. */
export function machineIdProblem(id: string): string | null {
  if (MACHINE_ID.test(id)) return null;
  return `machine id "${id}" must be 1-128 of [A-Za-z0-9_.-], starting with a letter or digit`;
}

export function isMachineId(id: string): boolean {
  return MACHINE_ID.test(id);
}
