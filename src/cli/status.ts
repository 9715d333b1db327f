/** `gitfleet status [UNIT]`: the cluster at a glance, or one unit everywhere it is. */
import { paint, useColor } from '../render/color.js';
import { renderTable } from '../render/table.js';
import type { EngineStatus } from '../store/keys.js';
import { rolloutCounts } from '../store/rollouts.js';
import { CliError } from './errors.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { machineLabel, readClusterView, warnLeftOut, type ClusterView } from './view.js';
import { diagnosticLine } from '../render/diagnostics.js';
import type { MachineAnswer } from './inspect.js';
import { unitName } from './journal.js';
import { askLive, renderLive } from './status-unit.js';

interface StatusFlags extends StoreFlags {
  format: 'text' | 'json';
}

export interface StatusSummary {
  applied: { commit: string; at: string } | null;
  refused: { commit: string; at: string; reason: string; diagnostics: unknown[] } | null;
  leader: string | null;
  machines: number;
  units: { launched: number; loaded: number; inactive: number; failed: number };
  rollout: { commit: string; state: string; counts: ReturnType<typeof rolloutCounts>; reason: string | null } | null;
  /** Set while the engine moves nothing because many machines are silent at once. */
  holding: EngineStatus['holding'];
  /** Machines silent but in their grace: their units stay where they are. */
  silent: string[];
}

export function summarize(view: ClusterView): StatusSummary {
  const units = { launched: 0, loaded: 0, inactive: 0, failed: 0 };
  for (const u of view.units) units[u.state]++;
  const failed = new Set(view.reports.filter((r) => r.report.active === 'failed').map((r) => r.unit));
  units.failed = failed.size;
  return {
    applied: view.status.applied,
    refused: view.status.refused,
    leader: view.leader,
    machines: view.machines.length,
    units,
    rollout: view.rollout
      ? {
          commit: view.rollout.commit,
          state: view.rollout.state,
          counts: rolloutCounts(view.rollout),
          reason: view.rollout.reason,
        }
      : null,
    holding: view.engine?.holding ?? null,
    silent: view.engine?.silent ?? [],
  };
}

/** status exits 1 while the branch head is refused, a unit is failed, or the latest rollout failed. */
export function statusExitCode(s: StatusSummary): number {
  const rolloutBad = s.rollout !== null && (s.rollout.state === 'failed' || s.rollout.state === 'reverted');
  return s.refused || s.units.failed > 0 || rolloutBad ? 1 : 0;
}

/** The latest rollout in one line (its counts), and why it failed or what is held, when it did. */
export function rolloutLines(r: NonNullable<StatusSummary['rollout']>, color: boolean): string[] {
  const c = r.counts;
  const state = r.state === 'failed' || r.state === 'reverted' ? paint(color, 'red', r.state) : r.state;
  const lines = [
    `rollout:   ${r.commit.slice(0, 12)} ${state}: ${c.healthy} healthy, ${c.updating} updating, ` +
      `${c.pending} pending, ${c.failed} failed`,
  ];
  if (r.reason) lines.push(`           ${r.reason}`);
  return lines;
}

export function renderSummary(s: StatusSummary, view: ClusterView, color: boolean): string {
  const lines: string[] = [];
  lines.push(`applied:   ${s.applied ? `${s.applied.commit.slice(0, 12)} at ${s.applied.at}` : 'nothing yet'}`);
  if (s.refused) {
    lines.push(
      `${paint(color, 'red', 'refused')}:   ${s.refused.commit.slice(0, 12)} at ${s.refused.at}: ${s.refused.reason}`,
    );
    for (const d of s.refused.diagnostics.slice(0, 20) as {
      file: string;
      line: number;
      column: number;
      severity: string;
      rule: string;
      message: string;
    }[]) {
      lines.push(`           ${diagnosticLine(d)}`);
    }
    if (s.refused.diagnostics.length > 20) lines.push(`           ... and ${s.refused.diagnostics.length - 20} more`);
  }
  lines.push(`leader:    ${s.leader ?? paint(color, 'yellow', 'none (no engine is running)')}`);
  lines.push(`machines:  ${s.machines}`);
  const u = s.units;
  lines.push(
    `units:     ${u.launched} launched, ${u.loaded} loaded, ${u.inactive} inactive, ` +
      `${u.failed ? paint(color, 'red', `${u.failed} failed`) : '0 failed'}`,
  );
  if (s.holding) {
    const h = s.holding;
    lines.push(
      `${paint(color, 'yellow', 'holding')}:   ${h.silent} of ${h.known} machines silent since ${h.since}: ` +
        `nothing of theirs moves until they return or ${h.until}`,
    );
  } else if (s.silent.length) {
    lines.push(`silent:    ${s.silent.join(', ')} (in their grace: their units stay where they are)`);
  }
  if (s.rollout) lines.push(...rolloutLines(s.rollout, color));
  if (view.unscheduled.size) {
    lines.push(`${paint(color, 'yellow', 'unscheduled')}:`);
    for (const [unit, reason] of [...view.unscheduled].sort()) lines.push(`           ${unit}: ${reason}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Exit status: 1 while the branch head is refused (a newer applied commit clears the refusal), a
 * unit is failed on some machine, or the latest rollout failed; 0 otherwise. `status UNIT`: 1
 * while that unit is failed somewhere.
 */
export async function run(rawUnit: string | undefined, flags: StatusFlags): Promise<number> {
  const unit = rawUnit === undefined ? undefined : unitName(rawUnit);
  const { view, live } = await withStore(
    flags,
    async (s) => {
      const view = await readClusterView(s);
      // With a unit: also what systemd says of it right now on each machine that runs it.
      return { view, live: unit === undefined ? [] : await askLive(s, view, unit) };
    },
    { up: true },
  );
  for (const e of view.malformed) warnLeftOut(e);
  const color = useColor();
  if (unit === undefined) {
    const s = summarize(view);
    writeOut(flags.format === 'json' ? JSON.stringify(s, null, 2) + '\n' : renderSummary(s, view, color));
    return statusExitCode(s);
  }
  const desired = view.units.find((u) => u.name === unit);
  const reports = view.reports.filter((r) => r.unit === unit);
  if (!desired && reports.length === 0)
    throw new CliError(`unit ${unit} is not in the applied commit and no machine reports it`);
  const scheduled = view.schedule.get(unit) ?? [];
  if (flags.format === 'json') {
    writeOut(
      JSON.stringify(
        {
          unit,
          desiredState: desired?.state ?? null,
          hash: desired?.hash ?? null,
          targetMachines: scheduled.map((s) => s.machine),
          unscheduled: view.unscheduled.get(unit) ?? null,
          reports: reports.map((r) => ({ machine: r.machine, ...r.report })),
          live: live.map((a) => ('error' in a ? { machine: a.machine, error: a.error } : a.answer)),
        },
        null,
        2,
      ) + '\n',
    );
    return failedAnywhere(reports, live) ? 1 : 0;
  }
  const addr = new Map(view.machines.map((m) => [m.id, m.address]));
  const out: string[] = [];
  out.push(`${unit}`);
  const desiredText = desired
    ? `${desired.state} (hash ${desired.hash.slice(0, 12)})`
    : 'not in the applied commit (being removed)';
  out.push(`  desired: ${desiredText}`);
  const reason = view.unscheduled.get(unit);
  let target = 'none';
  if (scheduled.length) target = scheduled.map((s) => machineLabel(s.machine, addr.get(s.machine), false)).join(', ');
  else if (reason) target = `none: ${reason}`;
  else if (desired?.constraints.global) target = 'every matching machine (Global)';
  out.push(`  target:  ${target}`);
  writeOut(out.join('\n') + '\n');
  if (reports.length) {
    const rows = reports.map((r) => [
      machineLabel(r.machine, addr.get(r.machine), false),
      r.report.load,
      r.report.active,
      r.report.sub,
      r.report.hash.slice(0, 12),
      desired && r.report.hash && r.report.hash !== desired.hash ? 'outdated' : '',
    ]);
    writeOut(renderTable(['machine', 'load', 'active', 'sub', 'hash', ''], rows, { color, stateColumns: [1, 2, 3] }));
  }
  writeOut(renderLive(live, view, color));
  return failedAnywhere(reports, live) ? 1 : 0;
}

/** `status UNIT` exits 1 while the unit is failed on some machine (as reported, or as systemd says now). */
function failedAnywhere(reports: { report: { active: string } }[], live: MachineAnswer[]): boolean {
  return (
    reports.some((r) => r.report.active === 'failed') ||
    live.some((a) => !('error' in a) && a.answer.status?.active === 'failed')
  );
}
