/** The unit-file library: pure code (no I/O). Parse, serialize/hash, names, specifiers, [X-Fleet]. */
export type { ParsedUnit, UnitOption, UnitSection, UnitType, FleetConstraints } from './types.js';
export { UNIT_TYPES, NO_CONSTRAINTS } from './types.js';
export {
  parseUnit,
  effectiveValues,
  effectiveOptions,
  lastValue,
  lastOption,
  getSection,
  LONG_LINE_MAX,
} from './parse.js';
