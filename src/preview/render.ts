/**
 * Renderings of a PreviewResult (pure, string out): text for terminals, markdown for pull-request
 * comments, JSON for scripts (shape in docs/cli.md and docs/plan.md).
 */
import type { Diagnostic } from '../diag.js';
import type { PreviewChange, PreviewResult } from './changes.js';

/** First line of every markdown plan: lets a CI job find and update its earlier comment. */
export const PLAN_COMMENT_MARKER = '<!-- gitfleet-plan -->';

export function renderPlanJson(result: PreviewResult): string {
  return JSON.stringify(result, null, 2) + '\n';
}

// ---------------------------------------------------------------- text

export interface TextOptions {
  /** ANSI colours (the CLI passes true on a TTY without NO_COLOR). */
  color?: boolean;
  /** Print file diffs after the list (default true). */
  diffs?: boolean;
}

const ANSI = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, dim: 2, bold: 1 } as const;
type Colour = keyof typeof ANSI;

export function renderPlanText(result: PreviewResult, opts: TextOptions = {}): string {
  const c = (colour: Colour, s: string): string => (opts.color ? `\x1b[${ANSI[colour]}m${s}\x1b[0m` : s);
  const lines: string[] = [];
  lines.push(
    c('bold', `Plan for ${short(result.head)}`) +
      (result.base ? ` (base ${short(result.base)})` : ' (no base: nothing deployed before)'),
  );

  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (result.refused) {
    lines.push(
      c(
        'red',
        `Refused: ${errors.length} error${s(errors.length)} in ${short(result.head)}; the controller would not apply ` +
          `it, and nothing would change.`,
      ),
    );
  }
  if (result.diagnostics.length) {
    lines.push('');
    for (const d of result.diagnostics) lines.push(formatDiagText(d, c));
  }
  if (!result.refused) {
    lines.push('');
    if (result.changes.length === 0 && result.files.length === 0)
      lines.push('No changes: the desired state is the same.');
    const width = Math.min(40, Math.max(0, ...result.changes.map((x) => x.unit.length)));
    for (const ch of result.changes) {
      const [mark, colour] = CHANGE_MARK[ch.change];
      lines.push(`  ${c(colour, mark)} ${ch.unit.padEnd(width)}  ${describeChange(ch)}`);
    }
    for (const f of result.files.filter((x) => !x.effect)) {
      lines.push(`  ${c('dim', '=')} ${f.file.padEnd(width)}  ${c('dim', 'text changed, no effect on any unit')}`);
    }
    lines.push('');
    lines.push(summaryLine(result));
    if (opts.diffs !== false) {
      for (const f of result.files) {
        lines.push('');
        lines.push(c('bold', f.effect ? `${f.file}: ${f.units.join(', ')}` : `${f.file}: no effect`));
        for (const l of f.diff.replace(/\n$/, '').split('\n')) {
          if (l.startsWith('+++') || l.startsWith('---')) lines.push(c('bold', l));
          else if (l.startsWith('+')) lines.push(c('green', l));
          else if (l.startsWith('-')) lines.push(c('red', l));
          else if (l.startsWith('@@')) lines.push(c('cyan', l));
          else lines.push(l);
        }
      }
    }
  }
  return lines.join('\n') + '\n';
}

const CHANGE_MARK: Record<PreviewChange['change'], [string, Colour]> = {
  added: ['+', 'green'],
  removed: ['-', 'red'],
  changed: ['~', 'yellow'],
  state: ['>', 'blue'],
};

function describeChange(ch: PreviewChange): string {
  switch (ch.change) {
    case 'added':
      return `added, ${ch.state.to}`;
    case 'removed':
      return 'removed: destroyed on every machine';
    case 'changed': {
      const st = ch.state.from !== ch.state.to ? `, state ${ch.state.from} -> ${ch.state.to}` : '';
      const files = changedFiles(ch);
      const moved = ch.source.from !== ch.source.to && files.includes(ch.source.to ?? '');
      return `changed (${files.join(', ')}${moved ? `, was ${ch.source.from}` : ''})${st}; replaced in place`;
    }
    case 'state':
      return `state ${ch.state.from} -> ${ch.state.to}`;
  }
}

/** The files that made a `changed` unit change (its drop-ins among them), else its unit file. */
function changedFiles(ch: PreviewChange): string[] {
  return ch.files?.length ? ch.files : [ch.source.to ?? ''];
}

function formatDiagText(d: Diagnostic, c: (colour: Colour, s: string) => string): string {
  const where = d.line ? `${d.file}:${d.line}:${d.column || 1}: ` : d.file ? `${d.file}: ` : '';
  const sev =
    d.severity === 'error' ? c('red', 'error') : d.severity === 'warning' ? c('yellow', 'warning') : c('blue', 'info');
  return `${where}${sev} ${d.rule} ${d.message}`;
}

function summaryLine(r: PreviewResult): string {
  const s_ = r.summary;
  const parts = [
    `${s_.added} added`,
    `${s_.removed} removed`,
    `${s_.changed} changed`,
    `${s_.state} state change${s(s_.state)}`,
  ];
  let line = parts.join(', ') + `; ${s_.unchanged} unchanged`;
  if (s_.noEffect) line += `; ${s_.noEffect} file${s(s_.noEffect)} changed with no effect`;
  return line;
}

// ---------------------------------------------------------------- markdown

export interface MarkdownOptions {
  /** Stop adding diffs (and table rows) beyond this many characters; GitHub's comment limit is 65,536. */
  maxChars?: number;
  /** At most this many table rows (default 200). */
  maxRows?: number;
}

const MD_MARK: Record<PreviewChange['change'], string> = { added: '➕', removed: '➖', changed: '✏️', state: '🔁' };

/** A pull-request comment: summary, table of changes, lint findings, then collapsible diffs. */
export function renderPlanMarkdown(result: PreviewResult, opts: MarkdownOptions = {}): string {
  const maxChars = opts.maxChars ?? 60_000;
  const maxRows = opts.maxRows ?? 200;
  const out: string[] = [PLAN_COMMENT_MARKER];
  out.push(
    `### gitfleet plan for ${code(short(result.head))}` +
      (result.base ? ` (base ${code(short(result.base))})` : ' (no base)'),
  );
  out.push('');

  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  const others = result.diagnostics.filter((d) => d.severity !== 'error');
  if (result.refused) {
    out.push(
      `**❌ Refused:** ${errors.length} error${s(errors.length)}. The controller would not apply this commit; nothing ` +
        `would change until they are fixed.`,
    );
    out.push('');
    for (const d of errors) out.push(`- ${formatDiagMd(d)}`);
    out.push('');
  } else {
    const sm = result.summary;
    const bits = [
      `**${sm.added}** added`,
      `**${sm.removed}** removed`,
      `**${sm.changed}** changed`,
      `**${sm.state}** state change${s(sm.state)}`,
    ];
    let line = bits.join(' · ') + ` · ${sm.unchanged} unchanged`;
    if (sm.noEffect) line += ` · ${sm.noEffect} file${s(sm.noEffect)} changed with no effect`;
    out.push(result.changes.length || result.files.length ? line : 'No changes: the desired state is the same.');
    out.push('');
    if (result.changes.length) {
      out.push('| | Unit | Change | State | File |');
      out.push('|---|---|---|---|---|');
      for (const ch of result.changes.slice(0, maxRows)) {
        const state =
          ch.state.from === ch.state.to ? (ch.state.to ?? '') : `${ch.state.from ?? '—'} → ${ch.state.to ?? '—'}`;
        const what =
          ch.change === 'removed' ? 'removed (destroyed everywhere)' : ch.change === 'state' ? 'state' : ch.change;
        const files =
          ch.change === 'changed' ? changedFiles(ch).map(code).join(', ') : code(ch.source.to ?? ch.source.from ?? '');
        out.push(`| ${MD_MARK[ch.change]} | ${code(ch.unit)} | ${what} | ${state} | ${files} |`);
      }
      if (result.changes.length > maxRows) out.push(`| | … and ${result.changes.length - maxRows} more | | | |`);
      out.push('');
    }
  }
  if (others.length) {
    out.push(`<details><summary>${others.length} warning${s(others.length)} and note${s(others.length)}</summary>`);
    out.push('');
    for (const d of others) out.push(`- ${formatDiagMd(d)}`);
    out.push('');
    out.push('</details>');
    out.push('');
  }

  let text = out.join('\n');
  if (!result.refused) {
    let omitted = 0;
    for (const f of result.files) {
      const title = f.effect
        ? `${code(f.file)}${f.oldFile ? ` (was ${code(f.oldFile)})` : ''}: ` +
          (f.units.length > 6 ? `${f.units.slice(0, 6).join(', ')} and ${f.units.length - 6} more` : f.units.join(', '))
        : `${code(f.file)}: text changed, no effect on any unit`;
      const fence = fenceFor(f.diff);
      const block =
        `<details><summary>${title}</summary>\n\n` +
        `${fence}diff\n${f.diff.replace(/\n$/, '')}\n${fence}\n\n</details>\n`;
      if (text.length + block.length > maxChars) {
        omitted++;
        continue;
      }
      text += '\n' + block;
    }
    if (omitted)
      text +=
        `\n_${omitted} diff${s(omitted)} not shown (comment size limit); run \`gitfleet plan\` locally to see ` +
        `${omitted === 1 ? 'it' : 'them'}._\n`;
  }
  return text.endsWith('\n') ? text : text + '\n';
}

function formatDiagMd(d: Diagnostic): string {
  const where = d.line ? `${d.file}:${d.line}:${d.column || 1}` : d.file;
  return `${where ? code(where) + ' ' : ''}**${d.rule}** ${escapeMd(d.message)}`;
}

/** An inline code span that survives backticks in its content. */
function code(s: string): string {
  if (s === '') return '';
  const runs = s.match(/`+/g) ?? [];
  const n = Math.max(0, ...runs.map((r) => r.length)) + 1;
  const tick = '`'.repeat(n);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  // A pipe would end the table cell even inside a code span.
  return `${tick}${pad}${s.replace(/\|/g, '\\|')}${pad}${tick}`;
}

function fenceFor(body: string): string {
  const runs = body.match(/`{3,}/g) ?? [];
  return '`'.repeat(Math.max(3, ...runs.map((r) => r.length + 1)));
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_[\]<>|#]/g, (ch) => (ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : `\\${ch}`));
}

function short(sha: string | null): string {
  return sha ? sha.slice(0, 12) : '(none)';
}

function s(n: number): string {
  return n === 1 ? '' : 's';
}
