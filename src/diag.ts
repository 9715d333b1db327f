/** A finding about user input (a unit file, fleet.yaml, a commit), with where it is. */
export type Severity = 'error' | 'warning' | 'info';

export interface Diagnostic {
  /** Path as the user knows it: relative to the repo root for commits, as given on the CLI for files. */
  file: string;
  /** 1-based; 0 when the finding is about the whole file. */
  line: number;
  /** 1-based; 0 when the finding is about the whole line or file. */
  column: number;
  /** Rule id from docs/lint.md, e.g. "VAL01". */
  rule: string;
  severity: Severity;
  message: string;
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

/** Stable order for output: by file, line, column, rule. */
export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return diags.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0),
  );
}
