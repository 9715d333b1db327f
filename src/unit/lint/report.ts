import type { Diagnostic, Severity } from '../../diag.js';
import type { UnitOption } from '../types.js';

/** Collects diagnostics for one file; positions come from the parsed options. */
export class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  constructor(readonly file: string) {}

  /** A finding about an option: at its value (default) or at its key. */
  option(o: UnitOption, rule: string, severity: Severity, message: string, at: 'key' | 'value' = 'value'): void {
    this.diagnostics.push({
      file: this.file,
      line: o.line,
      column: at === 'key' ? o.column : o.valueColumn,
      rule,
      severity,
      message,
    });
  }

  /** A finding about a line (a section header) or the whole file (line 0). */
  at(line: number, column: number, rule: string, severity: Severity, message: string): void {
    this.diagnostics.push({ file: this.file, line, column, rule, severity, message });
  }
}
