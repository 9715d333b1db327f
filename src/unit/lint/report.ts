import type { Diagnostic, Severity } from '../../diag.js';
import type { UnitOption, UnitSection } from '../types.js';

/**
 * Collects diagnostics for one unit; positions come from the parsed options. In a unit merged with
 * its drop-ins, an option or section from a drop-in names its own file, and is reported there.
 */
export class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  constructor(readonly file: string) {}

  /** A finding about an option: at its value (default) or at its key. */
  option(o: UnitOption, rule: string, severity: Severity, message: string, at: 'key' | 'value' = 'value'): void {
    this.diagnostics.push({
      file: o.file ?? this.file,
      line: o.line,
      column: at === 'key' ? o.column : o.valueColumn,
      rule,
      severity,
      message,
    });
  }

  /** A finding about a section (at its header), or about the whole file when the unit has no such section. */
  section(s: UnitSection | undefined, rule: string, severity: Severity, message: string): void {
    this.diagnostics.push({
      file: s?.file ?? this.file,
      line: s?.line ?? 0,
      column: s ? 1 : 0,
      rule,
      severity,
      message,
    });
  }

  /** A finding about a line of the unit file (a section header) or the whole file (line 0). */
  at(line: number, column: number, rule: string, severity: Severity, message: string): void {
    this.diagnostics.push({ file: this.file, line, column, rule, severity, message });
  }
}
