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
} from './parse.js';
export { LONG_LINE_MAX } from './physical-lines.js';
export { serializeUnit, unitHash, canonicalize, type CanonicalUnit } from './serialize.js';
export {
  isValidUnitName,
  unitNameError,
  unitType,
  parseUnitName,
  isTemplate,
  isInstance,
  templateOf,
  instantiate,
  escape,
  unescape,
  UnitNameError,
  UNIT_NAME_MAX,
  type UnitName,
} from './names.js';
export {
  findSpecifiers,
  isKnownSpecifier,
  isDeprecatedSpecifier,
  expandFleetSpecifiers,
  KNOWN_SPECIFIERS,
  DEPRECATED_SPECIFIERS,
  type SpecifierUse,
} from './specifiers.js';
export { parseFleetSection, FLEET_SECTION, TEMPLATE_SAMPLE_INSTANCE, type FleetSection } from './xfleet.js';
export { splitFleetValue, type FleetValue, type FleetKey } from './xfleet-values.js';
export { machineOfCycleDiagnostics, type FleetUnitRef } from './xfleet-cycles.js';
