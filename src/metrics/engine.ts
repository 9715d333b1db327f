/**
 * The engine's metrics: whether it leads, its passes and what they placed, and the rollout
 * gauges. Fed by the engine's own `onPass` report; leadership is read at scrape time. Placement
 * and rollout figures are the leader's: a follower reports 0, so a sum over engines is the
 * cluster's figure.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PassReport } from '../engine/engine.js';

export interface EngineMetrics {
  /** Give this to the Engine as `onPass`. */
  onPass(report: PassReport): void;
  /** Where to read leadership from at scrape time (the Engine is made after its options). */
  leading(isLeader: () => boolean): void;
}

export function engineMetrics(registry: Registry): EngineMetrics {
  const registers = [registry];
  let isLeader = () => false;
  new Gauge({
    name: 'gitfleet_engine_leader',
    help: '1 while this engine leads (schedules), else 0.',
    registers,
    collect() {
      this.set(isLeader() ? 1 : 0);
    },
  });
  const passes = new Counter({
    name: 'gitfleet_engine_passes_total',
    help: 'Scheduling passes this engine completed as leader.',
    registers,
  });
  const duration = new Histogram({
    name: 'gitfleet_engine_pass_duration_seconds',
    help: 'Time of one scheduling pass: reading, planning and writing the schedule.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const writes = new Counter({
    name: 'gitfleet_engine_schedule_writes_total',
    help: 'Schedule entries and unscheduled reasons the engine wrote or deleted.',
    registers,
  });
  let last: PassReport | null = null;
  const leaderFigure = (read: (r: PassReport) => number) =>
    function (this: Gauge) {
      this.set(isLeader() && last ? read(last) : 0);
    };
  new Gauge({
    name: 'gitfleet_engine_units_placed',
    help: 'Units the last pass placed on a machine (0 on engines that do not lead).',
    registers,
    collect: leaderFigure((r) => r.assigned),
  });
  new Gauge({
    name: 'gitfleet_engine_units_unplaced',
    help: 'Units that should run but that the last pass could place nowhere (0 on engines that do not lead).',
    registers,
    collect: leaderFigure((r) => r.unscheduled),
  });
  const latest = (r: PassReport) => r.rollout.state;
  new Gauge({
    name: 'gitfleet_rollouts_in_progress',
    help: 'The latest rollout is progressing or paused: 1, else 0 (0 on engines that do not lead).',
    registers,
    collect: leaderFigure((r) => (latest(r) === 'progressing' || latest(r) === 'paused' ? 1 : 0)),
  });
  new Gauge({
    name: 'gitfleet_rollouts_failed',
    help: 'The latest rollout failed or was reverted: 1, else 0 (0 on engines that do not lead).',
    registers,
    collect: leaderFigure((r) => (latest(r) === 'failed' || latest(r) === 'reverted' ? 1 : 0)),
  });
  return {
    onPass(r) {
      last = r;
      passes.inc();
      writes.inc(r.ops);
      duration.observe((r.readMs + r.planMs + r.writeMs) / 1000);
    },
    leading(fn) {
      isLeader = fn;
    },
  };
}
