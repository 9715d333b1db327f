/**
 * What the agent needs to know of a unit's content, found once where the content is read (a body
 * from the store, the files in the unit directory) and then handed on as plain data: to the planner
 * (does a launched oneshot run to completion?) and to the executor (is there an [Install]
 * section to enable?). The content is a unit file and its drop-ins (src/unit/body.ts); the facts
 * are those of the unit systemd makes of them. Pure.
 */
import { decodeUnitFiles, encodeUnitFiles, parseUnitFiles, type UnitFiles } from '../unit/body.js';
import { lastValue } from '../unit/parse.js';
import { sha256 } from '../util/hash.js';

/** The facts of one unit's content, without the text. */
export interface UnitFacts {
  /** sha256 of the body: the hash the schedule names. */
  hash: string;
  /**
   * Has an [Install] section (in its unit file or a drop-in, which systemctl enable reads too): the
   * executor enables the unit at runtime (WantedBy= links and so on).
   */
  install: boolean;
  /**
   * Type=oneshot without RemainAfterExit=yes: such a service runs to completion, so inactive/dead
   * after a successful run is its launched state, not drift.
   */
  oneshot: boolean;
}

/** A unit's content with its facts. */
export interface UnitContent extends UnitFacts {
  /** The body (what the store holds and the hash is of). */
  text: string;
  /** The files the agent writes: the unit file and its drop-ins. */
  files: UnitFiles;
}

const INSTALL_SECTION = /^\[Install\]\s*$/m;
const TRUE = /^(1|yes|y|true|t|on)$/i;

/**
 * Read the facts from a body, or from the files it stands for (pass `hash` when it is already
 * known, e.g. checked against the store key). A body that is not in the format throws UnitBodyError.
 */
export function unitContent(body: string | UnitFiles, hash?: string): UnitContent {
  const text = typeof body === 'string' ? body : encodeUnitFiles(body);
  const files = typeof body === 'string' ? decodeUnitFiles(body) : body;
  const u = parseUnitFiles(files, 'unit');
  const oneshot =
    lastValue(u, 'Service', 'Type') === 'oneshot' && !TRUE.test(lastValue(u, 'Service', 'RemainAfterExit') ?? '');
  const install = [files.unit, ...files.dropIns.map((d) => d.text)].some((t) => INSTALL_SECTION.test(t));
  return { text, files, hash: hash ?? sha256(text), install, oneshot };
}

/** A launched unit of this name and content runs to completion (only services do). */
export function runsToCompletion(unit: string, facts: UnitFacts): boolean {
  return unit.endsWith('.service') && facts.oneshot;
}
