/**
 * Diagnostics rendered for people and machines (docs/cli.md): `text` (file:line:col: severity RULE
 * message, coloured on request, then a summary line), `json` ({"files", "diagnostics"}), `github`
 * (workflow commands that annotate a pull request) and `sarif` (SARIF 2.1.0 for code scanning).
 * Pure: strings out; the caller decides colour (stdout is a TTY and NO_COLOR unset) and writes.
 */
import type { Diagnostic, Severity } from '../diag.js';
import { RULES } from '../unit/lint/rules.js';
import { paint, type ColorName } from './color.js';

export type DiagnosticFormat = 'text' | 'json' | 'github' | 'sarif';

export interface RenderOptions {
  /** How many files were checked (for the summary and the JSON `files` field). */
  files: number;
  color: boolean;
  /** gitfleet's version, for SARIF's tool.driver.version. */
  toolVersion: string;
}

export function renderDiagnostics(diags: readonly Diagnostic[], format: DiagnosticFormat, opts: RenderOptions): string {
  switch (format) {
    case 'text':
      return renderText(diags, opts);
    case 'json':
      return renderJson(diags, opts);
    case 'github':
      return renderGithub(diags);
    case 'sarif':
      return renderSarif(diags, opts);
  }
}

// ---------------------------------------------------------------------------------------------

const SEVERITY_COLOR: Record<Severity, ColorName> = { error: 'red', warning: 'yellow', info: 'blue' };

/** `file:line:col:` with the parts that are known (line/column 0 means "whole file/line"). */
function position(d: Diagnostic): string {
  if (d.line <= 0) return `${d.file}:`;
  if (d.column <= 0) return `${d.file}:${d.line}:`;
  return `${d.file}:${d.line}:${d.column}:`;
}

/**
 * One diagnostic on one line, as `apply`, `status` and `up` print a refusal: `file:line:col:
 * severity RULE message`, without the position when the finding is about a commit, not a file.
 */
export function diagnosticLine(
  d: Pick<Diagnostic, 'file' | 'line' | 'column' | 'rule' | 'message'> & { severity: string },
): string {
  return `${d.file ? `${d.file}:${d.line}:${d.column}: ` : ''}${d.severity} ${d.rule} ${d.message}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The summary line: "2 errors, 1 warning in 12 files" or "12 files checked, no problems". */
export function summarize(diags: readonly Diagnostic[], files: number): string {
  const count = (s: Severity) => diags.filter((d) => d.severity === s).length;
  const parts: string[] = [];
  const e = count('error');
  const w = count('warning');
  const i = count('info');
  if (e) parts.push(plural(e, 'error'));
  if (w) parts.push(plural(w, 'warning'));
  if (i) parts.push(plural(i, 'note'));
  if (parts.length === 0) return `${plural(files, 'file')} checked, no problems`;
  return `${parts.join(', ')} in ${plural(files, 'file')}`;
}

function renderText(diags: readonly Diagnostic[], opts: RenderOptions): string {
  const c = opts.color;
  const lines = diags.map(
    (d) =>
      `${paint(c, 'bold', position(d))} ${paint(c, SEVERITY_COLOR[d.severity], d.severity)} ` +
      `${paint(c, 'gray', d.rule)} ` +
      `${oneLine(d.message)}`,
  );
  const hasErrors = diags.some((d) => d.severity === 'error');
  const summary = summarize(diags, opts.files);
  lines.push(paint(c, hasErrors ? 'red' : diags.length ? 'yellow' : 'green', summary));
  return lines.join('\n') + '\n';
}

/** Messages are one line in text output: a newline in user data must not fake another finding. */
function oneLine(s: string): string {
  return s.replace(/\r\n|\r|\n/g, '\\n');
}

// ---------------------------------------------------------------------------------------------

function renderJson(diags: readonly Diagnostic[], opts: RenderOptions): string {
  const out = {
    files: opts.files,
    diagnostics: diags.map((d) => ({
      file: d.file,
      line: d.line,
      column: d.column,
      rule: d.rule,
      severity: d.severity,
      message: d.message,
    })),
  };
  return JSON.stringify(out, null, 2) + '\n';
}

// ---------------------------------------------------------------------------------------------

/** Workflow-command data escaping (actions/toolkit `escapeData`). */
export function escapeGithubData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Workflow-command property escaping (actions/toolkit `escapeProperty`): also ':' and ','. */
export function escapeGithubProperty(s: string): string {
  return escapeGithubData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

const GITHUB_LEVEL: Record<Severity, string> = { error: 'error', warning: 'warning', info: 'notice' };

function renderGithub(diags: readonly Diagnostic[]): string {
  return diags
    .map((d) => {
      const props = [`file=${escapeGithubProperty(d.file)}`];
      if (d.line > 0) props.push(`line=${d.line}`);
      if (d.line > 0 && d.column > 0) props.push(`col=${d.column}`);
      props.push(`title=${escapeGithubProperty(d.rule)}`);
      return `::${GITHUB_LEVEL[d.severity]} ${props.join(',')}::${escapeGithubData(d.message)}\n`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------------

const SARIF_LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  error: 'error',
  warning: 'warning',
  info: 'note',
};

/** A relative path as a URI reference: each segment percent-encoded, '/' kept. */
function toUri(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

function renderSarif(diags: readonly Diagnostic[], opts: RenderOptions): string {
  const rules = RULES.map((r) => ({
    id: r.id,
    shortDescription: { text: r.summary },
    defaultConfiguration: { level: SARIF_LEVEL[r.severity] },
    help: { text: `gitfleet rule ${r.id}: see docs/lint.md` },
  }));
  const index = new Map(rules.map((r, i) => [r.id, i] as const));
  // Rules reported by other parts (or future ones) still get a descriptor, so ruleIndex is valid.
  for (const d of diags) {
    if (!index.has(d.rule)) {
      index.set(d.rule, rules.length);
      rules.push({
        id: d.rule,
        shortDescription: { text: d.rule },
        defaultConfiguration: { level: SARIF_LEVEL[d.severity] },
        help: { text: `gitfleet rule ${d.rule}` },
      });
    }
  }
  const results = diags.map((d) => {
    const physicalLocation: Record<string, unknown> = { artifactLocation: { uri: toUri(d.file) } };
    if (d.line > 0) {
      physicalLocation.region = d.column > 0 ? { startLine: d.line, startColumn: d.column } : { startLine: d.line };
    }
    return {
      ruleId: d.rule,
      ruleIndex: index.get(d.rule)!,
      level: SARIF_LEVEL[d.severity],
      message: { text: d.message },
      locations: [{ physicalLocation }],
    };
  });
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'gitfleet',
            version: opts.toolVersion,
            rules,
          },
        },
        columnKind: 'utf16CodeUnits',
        results,
      },
    ],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
