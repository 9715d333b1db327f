/**
 * `gitfleet plan [REV | BASE..HEAD]`: what a commit or range would change, for review.
 * With --etcd (or GITFLEET_ETCD), also where the engine would place the units that change,
 * given the cluster's live machines and current schedule (read-only).
 * Exit 0, 1 when the head would be refused (lint errors), 2 for unknown revisions or flags.
 */
import { planSchedule } from '../engine/schedule.js';
import { toEntry } from '../store/layout.js';
import { currentPlacement, readMachines, readSchedule } from '../store/readers.js';
import { useColor } from '../render/color.js';
import { GitSourceError } from '../source/git.js';
import { findGitdir } from '../source/gitdir.js';
import type { SignatureRefusal } from '../source/signatures.js';
import type { DesiredState } from '../desired/types.js';
import { planRange } from '../preview/range.js';
import { renderPlanJson, renderPlanMarkdown, renderPlanText } from '../preview/render.js';
import type { PreviewResult } from '../preview/changes.js';
import { withStore, writeOut, type StoreFlags } from './common.js';
import { UsageError } from './errors.js';
import { warnLeftOut } from './view.js';
import { loadTrust, type TrustFlags } from './trust.js';

interface PlanFlags extends StoreFlags, TrustFlags {
  repo: string;
  path?: string;
  format: 'text' | 'markdown' | 'json';
}

export interface Placement {
  unit: string;
  machine: string | null;
  reason: string;
}

/** Where the engine would put the units this plan adds or changes, on the live cluster. */
async function placements(flags: PlanFlags, result: PreviewResult, desired: DesiredState | null): Promise<Placement[]> {
  if (!desired || result.refused) return [];
  const wanted = new Set(result.changes.filter((c) => c.state.to && c.state.to !== 'inactive').map((c) => c.unit));
  if (wanted.size === 0) return [];
  return withStore(flags, async (store) => {
    // Read exactly as the engine reads them, so the preview cannot disagree with it.
    const [machines, schedule] = await Promise.all([
      readMachines(store, warnLeftOut),
      readSchedule(store, warnLeftOut),
    ]);
    const current = currentPlacement(schedule, machines);
    const plan = planSchedule({ units: desired.units.map(toEntry), machines, current });
    const out: Placement[] = [];
    for (const unit of [...wanted].sort()) {
      const entry = desired.units.find((u) => u.name === unit);
      if (entry?.constraints.global) {
        out.push({ unit, machine: null, reason: 'Global: every machine whose metadata matches runs it' });
        continue;
      }
      const m = plan.assign.get(unit);
      const decision = plan.decisions.find((d) => d.unit === unit);
      out.push(
        m
          ? {
              unit,
              machine: m,
              reason: decision?.reason ?? (current.get(unit) === m ? 'stays where it runs' : 'placed'),
            }
          : { unit, machine: null, reason: plan.unscheduled.get(unit) ?? 'not placed' },
      );
    }
    return out;
  });
}

function renderPlacementsText(ps: Placement[]): string {
  if (!ps.length) return '';
  const lines = ['', 'Placement on the live cluster:'];
  for (const p of ps) lines.push(`  ${p.unit} -> ${p.machine ? p.machine.slice(0, 8) : 'nowhere'} (${p.reason})`);
  return lines.join('\n') + '\n';
}

function renderPlacementsMarkdown(ps: Placement[]): string {
  if (!ps.length) return '';
  const rows = ps.map(
    (p) =>
      `| \`${p.unit}\` | ${p.machine ? `\`${p.machine.slice(0, 8)}\`` : '—'} | ${p.reason.replace(/\|/g, '\\|')} |`,
  );
  return ['', '#### Placement on the live cluster', '', '| unit | machine | why |', '|---|---|---|', ...rows, ''].join(
    '\n',
  );
}

/** The head refused for its signatures, as the controller would: nothing would change. */
function refuseUnsigned(result: PreviewResult, refusal: SignatureRefusal): PreviewResult {
  return {
    ...result,
    changes: [],
    files: [],
    summary: { added: 0, removed: 0, changed: 0, state: 0, unchanged: 0, noEffect: 0 },
    diagnostics: [...result.diagnostics, ...refusal.diagnostics],
    refused: true,
  };
}

export async function run(range: string | undefined, flags: PlanFlags): Promise<number> {
  let result: PreviewResult;
  let headDesired: DesiredState | null = null;
  const trust = await loadTrust(flags, flags.repo);
  try {
    result = await planRange(flags.repo, range ?? '', { path: flags.path, onHeadDesired: (d) => (headDesired = d) });
    // The base stands for the applied commit: the controller would check what the head brings over it.
    const refusal = await trust?.check(findGitdir(flags.repo), result.base, result.head!);
    if (refusal) {
      result = refuseUnsigned(result, refusal);
      headDesired = null;
    }
  } catch (e) {
    if (e instanceof GitSourceError) throw new UsageError(e.message);
    throw e;
  } finally {
    trust?.close();
  }
  const wantPlacement = Boolean(flags.etcd || process.env.GITFLEET_ETCD);
  const ps = wantPlacement ? await placements(flags, result, headDesired) : [];
  switch (flags.format) {
    case 'json': {
      const obj = JSON.parse(renderPlanJson(result)) as Record<string, unknown>;
      if (wantPlacement) obj.placement = ps;
      writeOut(JSON.stringify(obj, null, 2) + '\n');
      break;
    }
    case 'markdown':
      writeOut(renderPlanMarkdown(result) + renderPlacementsMarkdown(ps));
      break;
    default:
      writeOut(renderPlanText(result, { color: useColor() }) + renderPlacementsText(ps));
  }
  return result.refused ? 1 : 0;
}
