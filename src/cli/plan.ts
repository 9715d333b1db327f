/**
 * `gitfleet plan [REV | BASE..HEAD]`: what a commit or range would change, for review.
 * With --etcd (or GITFLEET_ETCD), also where the engine would place the units that change, and
 * which machines each changed unit's rollout would reach in which batch (canary, batch 1, ...),
 * given the cluster's live machines, current schedule and what each machine runs (read-only).
 * Exit 0, 1 when the head would be refused (lint errors), 2 for unknown revisions or flags.
 */
import { rolloutView } from '../engine/pass.js';
import { placementKey } from '../engine/rollout.js';
import { previewBatches, type BatchPreview } from '../engine/rollout-batches.js';
import { planSchedule } from '../engine/schedule.js';
import { toEntry } from '../store/layout.js';
import { currentPlacement, readMachines, readReports, readSchedule, type StoredSchedule } from '../store/readers.js';
import { readRollout } from '../store/rollouts.js';
import { isTemplate, templateOf } from '../unit/names.js';
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

/** Where the change would go on the live cluster: each unit's machine, and each rollout's batches. */
interface LivePlan {
  placement: Placement[];
  rollout: BatchPreview[];
}

/** Group of a unit: its template for an instance, else itself (as the engine groups a rollout). */
const groupOf = (unit: string) => {
  const t = templateOf(unit);
  return t && !isTemplate(unit) ? t : unit;
};

/** Where the engine would put the units this plan adds or changes, and in which batches, on the live cluster. */
async function livePlan(flags: PlanFlags, result: PreviewResult, desired: DesiredState | null): Promise<LivePlan> {
  if (!desired || result.refused) return { placement: [], rollout: [] };
  const wanted = new Set(result.changes.filter((c) => c.state.to && c.state.to !== 'inactive').map((c) => c.unit));
  const touched = new Set(result.changes.map((c) => groupOf(c.unit)));
  if (touched.size === 0) return { placement: [], rollout: [] };
  return withStore(flags, async (store) => {
    // Read exactly as the engine reads them, so the preview cannot disagree with it.
    const [machines, schedule, reportList, latest] = await Promise.all([
      readMachines(store, warnLeftOut),
      readSchedule(store, warnLeftOut),
      readReports(store, warnLeftOut),
      readRollout(store),
    ]);
    const units = desired.units.map(toEntry);
    const globals = new Set(units.filter((u) => u.constraints.global).map((u) => u.name));
    const placed: StoredSchedule = {
      ...schedule,
      byUnit: new Map([...schedule.byUnit].filter(([u]) => !globals.has(u))),
    };
    const current = currentPlacement(placed, machines);
    const plan = planSchedule({ units, machines, current });
    const placement: Placement[] = [];
    for (const unit of [...wanted].sort()) {
      if (globals.has(unit)) {
        placement.push({ unit, machine: null, reason: 'Global: every machine whose metadata matches runs it' });
        continue;
      }
      const m = plan.assign.get(unit);
      const decision = plan.decisions.find((d) => d.unit === unit);
      placement.push(
        m
          ? {
              unit,
              machine: m,
              reason: decision?.reason ?? (current.get(unit) === m ? 'stays where it runs' : 'placed'),
            }
          : { unit, machine: null, reason: plan.unscheduled.get(unit) ?? 'not placed' },
      );
    }
    const reports = new Map(reportList.map((r) => [placementKey(r.machine, r.unit), r.report]));
    const view = rolloutView({ units, assign: plan.assign, live: machines, held: [], schedule, reports });
    const rollout = previewBatches({
      commit: result.head ?? 'HEAD',
      units: view.subjects,
      placement: view.placement,
      told: view.told,
      record: latest,
    }).filter((g) => touched.has(g.unit));
    return { placement, rollout };
  });
}

const machineList = (ms: readonly string[]) => ms.map((m) => m.slice(0, 8)).join(', ');

/** "canary: m1; batch 1: m2, m3" (or why it reaches no machine). */
function batchesText(g: BatchPreview): string {
  if (g.held) return `held: ${g.held}`;
  if (g.batches.length === 0) return 'no machine';
  return g.batches.map((b) => `${b.name}: ${machineList(b.machines)}`).join('; ');
}

function renderRolloutText(rs: BatchPreview[]): string {
  if (!rs.length) return '';
  const lines = ['', 'Rollout on the live cluster:'];
  for (const g of rs) lines.push(`  ${g.unit} ${g.change}: ${batchesText(g)}`);
  return lines.join('\n') + '\n';
}

function renderRolloutMarkdown(rs: BatchPreview[]): string {
  if (!rs.length) return '';
  const rows = rs.map((g) => `| \`${g.unit}\` | ${g.change} | ${batchesText(g).replace(/\|/g, '\\|')} |`);
  return ['', '#### Rollout on the live cluster', '', '| unit | change | batches |', '|---|---|---|', ...rows, ''].join(
    '\n',
  );
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
  const live = wantPlacement ? await livePlan(flags, result, headDesired) : { placement: [], rollout: [] };
  const ps = live.placement;
  switch (flags.format) {
    case 'json': {
      const obj = JSON.parse(renderPlanJson(result)) as Record<string, unknown>;
      if (wantPlacement) {
        obj.placement = ps;
        obj.rollout = live.rollout.map((g) => ({ unit: g.unit, change: g.change, batches: g.batches, held: g.held }));
      }
      writeOut(JSON.stringify(obj, null, 2) + '\n');
      break;
    }
    case 'markdown':
      writeOut(renderPlanMarkdown(result) + renderPlacementsMarkdown(ps) + renderRolloutMarkdown(live.rollout));
      break;
    default:
      writeOut(
        renderPlanText(result, { color: useColor() }) + renderPlacementsText(ps) + renderRolloutText(live.rollout),
      );
  }
  return result.refused ? 1 : 0;
}
