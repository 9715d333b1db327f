/** Colour only for people: a TTY, NO_COLOR unset (https://no-color.org), FORCE_COLOR forces it. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY);
}

const codes = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type ColorName = keyof typeof codes;

export function paint(on: boolean, color: ColorName, text: string): string {
  return on ? `\x1b[${codes[color]}m${text}\x1b[0m` : text;
}

/** Colour for a systemd/gitfleet state word. */
export function stateColor(state: string): ColorName | null {
  switch (state) {
    case 'active':
    case 'running':
    case 'launched':
    case 'loaded':
    case 'listening':
    case 'waiting':
    case 'exited':
      return 'green';
    case 'failed':
    case 'error':
    case 'not-found':
    case 'bad-setting':
    case 'refused':
      return 'red';
    case 'activating':
    case 'deactivating':
    case 'reloading':
    case 'auto-restart':
    case 'unscheduled':
      return 'yellow';
    case 'inactive':
    case 'dead':
    case '-':
      return 'gray';
    default:
      return null;
  }
}
