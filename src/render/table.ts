import { paint, stateColor } from './color.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const width = (s: string) => s.replace(ANSI, '').length;

/**
 * An aligned table like fleetctl's: upper-case headers, columns separated by two spaces,
 * no trailing spaces; `legend: false` leaves the headers out (fleetctl's --no-legend). Cells named
 * in `stateColumns` are coloured by their state word.
 */
export function renderTable(
  headers: string[],
  rows: string[][],
  opts: { color: boolean; stateColumns?: number[]; legend?: boolean },
): string {
  const colored = rows.map((r) =>
    r.map((cell, i) => {
      if (!opts.color || !opts.stateColumns?.includes(i)) return cell;
      const c = stateColor(cell);
      return c ? paint(true, c, cell) : cell;
    }),
  );
  const legend = opts.legend !== false;
  const widths = headers.map((h, i) => Math.max(legend ? width(h) : 0, ...colored.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
      .join('  ')
      .trimEnd();
  const body = colored.map(line);
  const lines = legend ? [line(headers.map((h) => h.toUpperCase())), ...body] : body;
  return lines.length ? lines.join('\n') + '\n' : '';
}
