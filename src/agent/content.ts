/**
 * What the agent needs to know of a unit file's text, found once where the text is read (a body
 * from the store, a file in the unit directory) and then handed on as plain data: to the planner
 * (does a launched oneshot run to completion?) and to the executor (is there an [Install]
 * section to enable?). Pure.
 */
import { lastValue, parseUnit } from '../unit/parse.js';
import { sha256 } from '../util/hash.js';

/** The facts of one unit file's content, without the text. */
export interface UnitFacts {
  /** sha256 of the text: the hash the schedule names. */
  hash: string;
  /** Has an [Install] section: the executor enables the unit at runtime (WantedBy= links and so on). */
  install: boolean;
  /**
   * Type=oneshot without RemainAfterExit=yes: such a service runs to completion, so inactive/dead
   * after a successful run is its launched state, not drift.
   */
  oneshot: boolean;
}

/** A unit file's text with its facts. */
export interface UnitContent extends UnitFacts {
  text: string;
}

const INSTALL_SECTION = /^\[Install\]\s*$/m;
const TRUE = /^(1|yes|y|true|t|on)$/i;

/** Read the facts from `text` (pass `hash` when it is already known, e.g. checked against the store key). */
export function unitContent(text: string, hash = sha256(text)): UnitContent {
  const u = parseUnit(text, 'unit');
  const oneshot =
    lastValue(u, 'Service', 'Type') === 'oneshot' && !TRUE.test(lastValue(u, 'Service', 'RemainAfterExit') ?? '');
  return { text, hash, install: INSTALL_SECTION.test(text), oneshot };
}

/** A launched unit of this name and content runs to completion (only services do). */
export function runsToCompletion(unit: string, facts: UnitFacts): boolean {
  return unit.endsWith('.service') && facts.oneshot;
}
