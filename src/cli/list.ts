/** fleetctl's three listings: list-machines, list-units, list-unit-files. */
import { useColor } from '../render/color.js';
import { renderTable } from '../render/table.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { currentState, machineLabel, readClusterView, type ClusterView } from './view.js';

interface ListFlags extends StoreFlags {
  format: 'text' | 'json';
  full?: boolean;
}

const addressOf = (view: ClusterView) => new Map(view.machines.map((m) => [m.id, m.address]));

export async function listMachines(flags: ListFlags): Promise<number> {
  const view = await withStore(flags, (s) => readClusterView(s, { units: false, reports: false }), { up: true });
  if (flags.format === 'json') {
    writeOut(
      JSON.stringify(
        view.machines.map((m) => ({ machine: m.id, address: m.address, metadata: m.metadata })),
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  const rows = view.machines.map((m) => [
    flags.full ? m.id : m.id.slice(0, 8),
    m.address || '-',
    Object.entries(m.metadata)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-',
  ]);
  writeOut(renderTable(['machine', 'ip', 'metadata'], rows, { color: useColor() }));
  return 0;
}

export async function listUnits(flags: ListFlags): Promise<number> {
  const view = await withStore(flags, (s) => readClusterView(s, { units: false }), { up: true });
  if (flags.format === 'json') {
    const out = view.reports.map((r) => ({
      unit: r.unit,
      machine: r.machine,
      load: r.report.load,
      active: r.report.active,
      sub: r.report.sub,
      hash: r.report.hash,
    }));
    writeOut(JSON.stringify(out, null, 2) + '\n');
    return 0;
  }
  const addr = addressOf(view);
  const rows = view.reports.map((r) => [
    r.unit,
    machineLabel(r.machine, addr.get(r.machine), Boolean(flags.full)),
    r.report.load,
    r.report.active,
    r.report.sub,
    flags.full ? r.report.hash : r.report.hash.slice(0, 7),
    r.report.driftRepairs ? `restarted ${r.report.driftRepairs}x` : '',
  ]);
  writeOut(
    renderTable(['unit', 'machine', 'load', 'active', 'sub', 'hash', 'drift'], rows, {
      color: useColor(),
      stateColumns: [2, 3, 4],
    }),
  );
  return 0;
}

/** One row per desired unit (Global units: one row per machine that reports them). */
export function unitFileRows(view: ClusterView) {
  const reportsByUnit = new Map<string, Map<string, ClusterView['reports'][number]['report']>>();
  for (const r of view.reports) {
    let m = reportsByUnit.get(r.unit);
    if (!m) reportsByUnit.set(r.unit, (m = new Map()));
    m.set(r.machine, r.report);
  }
  const rows: {
    unit: string;
    hash: string;
    desiredState: string;
    state: string;
    targetMachine: string | null;
    reason?: string;
  }[] = [];
  for (const u of view.units) {
    const reports = reportsByUnit.get(u.name);
    if (u.constraints.global) {
      const machines = [...(reports?.keys() ?? [])].sort();
      if (machines.length === 0)
        rows.push({
          unit: u.name,
          hash: u.hash,
          desiredState: u.state,
          state: 'inactive',
          targetMachine: null,
          reason: 'global: no machine reports it yet',
        });
      for (const m of machines)
        rows.push({
          unit: u.name,
          hash: u.hash,
          desiredState: u.state,
          state: currentState(reports!.get(m)),
          targetMachine: m,
        });
      continue;
    }
    const target = view.schedule.get(u.name)?.[0]?.machine ?? null;
    const row: (typeof rows)[number] = {
      unit: u.name,
      hash: u.hash,
      desiredState: u.state,
      state: target ? currentState(reports?.get(target)) : 'inactive',
      targetMachine: target,
    };
    const reason = view.unscheduled.get(u.name);
    if (reason) row.reason = reason;
    rows.push(row);
  }
  return rows;
}

export async function listUnitFiles(flags: ListFlags): Promise<number> {
  const view = await withStore(flags, (s) => readClusterView(s), { up: true });
  const rows = unitFileRows(view);
  if (flags.format === 'json') {
    writeOut(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  const addr = addressOf(view);
  const table = rows.map((r) => [
    r.unit,
    flags.full ? r.hash : r.hash.slice(0, 7),
    r.desiredState,
    r.state,
    r.targetMachine
      ? machineLabel(r.targetMachine, addr.get(r.targetMachine), Boolean(flags.full))
      : r.reason
        ? `- (${r.reason})`
        : '-',
  ]);
  writeOut(
    renderTable(['unit', 'hash', 'dstate', 'state', 'target'], table, { color: useColor(), stateColumns: [2, 3] }),
  );
  return 0;
}
