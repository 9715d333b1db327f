/**
 * fleetctl's three listings: list-machines, list-units, list-unit-files. Text output takes
 * fleetctl's `--fields a,b,c` (columns, in that order) and `--no-legend` (no header line); JSON
 * output is always the whole record.
 */
import { useColor } from '../render/color.js';
import { renderTable } from '../render/table.js';
import { lastValue } from '../unit/parse.js';
import { parseUnitFiles } from '../unit/body.js';
import type { Store } from '../store/store.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { UsageError } from './errors.js';
import { chooseFields, type ListName } from './fields.js';
import { readBody } from '../store/readers.js';
import { currentState, machineLabel, readClusterView, warnLeftOut, type ClusterView } from './view.js';

interface ListFlags extends StoreFlags {
  format: 'text' | 'json';
  full?: boolean;
  legend?: boolean;
  fields?: string;
}

/** Columns that are coloured by their state word. */
const STATE_FIELDS = new Set(['load', 'active', 'sub', 'dstate', 'state']);

const addressOf = (view: ClusterView) => new Map(view.machines.map((m) => [m.id, m.address]));

function fieldsOf(list: ListName, flags: ListFlags): string[] {
  try {
    return chooseFields(list, flags.fields);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The table of `rows` with the chosen columns, each cell from `cells[field](row)`. */
function table<R>(fields: string[], rows: R[], cells: Record<string, (r: R) => string>, flags: ListFlags): string {
  return renderTable(
    fields,
    rows.map((r) => fields.map((f) => cells[f]!(r))),
    {
      color: useColor(),
      legend: flags.legend !== false,
      stateColumns: fields.flatMap((f, i) => (STATE_FIELDS.has(f) ? [i] : [])),
    },
  );
}

export async function listMachines(flags: ListFlags): Promise<number> {
  const fields = fieldsOf('list-machines', flags);
  const view = await withStore(flags, (s) => readClusterView(s, { units: false, reports: false }), { up: true });
  for (const e of view.malformed) warnLeftOut(e);
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
  type M = ClusterView['machines'][number];
  writeOut(
    table<M>(
      fields,
      view.machines,
      {
        machine: (m) => (flags.full ? m.id : m.id.slice(0, 8)),
        ip: (m) => m.address || '-',
        metadata: (m) =>
          Object.entries(m.metadata)
            .sort()
            .map(([k, v]) => `${k}=${v}`)
            .join(',') || '-',
      },
      flags,
    ),
  );
  return 0;
}

export async function listUnits(flags: ListFlags): Promise<number> {
  const fields = fieldsOf('list-units', flags);
  const view = await withStore(flags, (s) => readClusterView(s, { units: false }), { up: true });
  for (const e of view.malformed) warnLeftOut(e);
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
  type R = ClusterView['reports'][number];
  writeOut(
    table<R>(
      fields,
      view.reports,
      {
        unit: (r) => r.unit,
        machine: (r) => machineLabel(r.machine, addr.get(r.machine), Boolean(flags.full)),
        load: (r) => r.report.load,
        active: (r) => r.report.active,
        sub: (r) => r.report.sub,
        hash: (r) => (flags.full ? r.report.hash : r.report.hash.slice(0, 7)),
        drift: (r) => (r.report.driftRepairs ? `restarted ${r.report.driftRepairs}x` : ''),
      },
      flags,
    ),
  );
  return 0;
}

export interface UnitFileRow {
  unit: string;
  hash: string;
  desiredState: string;
  state: string;
  targetMachine: string | null;
  reason?: string;
}

/** One row per desired unit (Global units: one row per machine that reports them). */
export function unitFileRows(view: ClusterView): UnitFileRow[] {
  const reportsByUnit = new Map<string, Map<string, ClusterView['reports'][number]['report']>>();
  for (const r of view.reports) {
    let m = reportsByUnit.get(r.unit);
    if (!m) reportsByUnit.set(r.unit, (m = new Map()));
    m.set(r.machine, r.report);
  }
  const rows: UnitFileRow[] = [];
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
    const row: UnitFileRow = {
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

/** Description= of each unit body, by hash (only read when the `desc` column is asked for). */
async function descriptions(store: Store, hashes: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const h of new Set(hashes)) {
    const body = await readBody(store, h);
    if (body !== null) out.set(h, lastValue(parseUnitFiles(body, h), 'Unit', 'Description') ?? '');
  }
  return out;
}

export async function listUnitFiles(flags: ListFlags): Promise<number> {
  const fields = fieldsOf('list-unit-files', flags);
  let desc = new Map<string, string>();
  const view = await withStore(
    flags,
    async (s) => {
      const v = await readClusterView(s);
      for (const e of v.malformed) warnLeftOut(e);
      if (flags.format !== 'json' && fields.includes('desc'))
        desc = await descriptions(
          s,
          v.units.map((u) => u.hash),
        );
      return v;
    },
    { up: true },
  );
  const rows = unitFileRows(view);
  if (flags.format === 'json') {
    writeOut(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  const addr = addressOf(view);
  const global = new Map(view.units.map((u) => [u.name, u.constraints.global]));
  writeOut(
    table<UnitFileRow>(
      fields,
      rows,
      {
        unit: (r) => r.unit,
        hash: (r) => (flags.full ? r.hash : r.hash.slice(0, 7)),
        dstate: (r) => r.desiredState,
        state: (r) => r.state,
        target: (r) =>
          r.targetMachine
            ? machineLabel(r.targetMachine, addr.get(r.targetMachine), Boolean(flags.full))
            : r.reason
              ? `- (${r.reason})`
              : '-',
        tmachine: (r) => (r.targetMachine ? (flags.full ? r.targetMachine : r.targetMachine.slice(0, 8)) : '-'),
        desc: (r) => desc.get(r.hash) || '-',
        global: (r) => String(Boolean(global.get(r.unit))),
      },
      flags,
    ),
  );
  return 0;
}
