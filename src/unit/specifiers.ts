/**
 * `%` specifiers in unit-file values: where they are, which systemd knows (docs/lint.md), and
 * fleet's own expansion of `%n %N %p %i` in [X-Fleet] values. Pure.
 */

export interface SpecifierUse {
  /** The character after '%' ('n' for `%n`, '%' for `%%`). */
  spec: string;
  /** 0-based index of the '%' in the value. */
  index: number;
}

/**
 * Every `%X` in `value` where X is a letter, a digit or '%', in order, as systemd's
 * specifier_printf() scans it: `%%` is one use of '%', and a '%' followed by anything else (or at
 * the end) is a literal percent sign, not a specifier.
 */
export function findSpecifiers(value: string): SpecifierUse[] {
  const out: SpecifierUse[] = [];
  for (let i = value.indexOf('%'); i >= 0 && i < value.length - 1; i = value.indexOf('%', i)) {
    const c = value[i + 1]!;
    if (c === '%' || /[A-Za-z0-9]/.test(c)) {
      out.push({ spec: c, index: i });
      i += 2;
    } else {
      i += 1;
    }
  }
  return out;
}

/** Specifiers systemd 252 expands in unit files (systemd.unit(5)), plus '%' for `%%`. */
export const KNOWN_SPECIFIERS: ReadonlySet<string> = new Set(
  'a A b B C d E f g G h H i I j J l L m M n N o p P q s S t T u U v V w W y Y %'.split(' '),
);

/** Specifiers systemd still accepts but documents as deprecated (docs/lint.md). */
export const DEPRECATED_SPECIFIERS: ReadonlySet<string> = new Set(['c', 'r', 'R']);

/** True for a specifier systemd expands (`spec` is the char after '%'); deprecated ones excluded. */
export function isKnownSpecifier(spec: string): boolean {
  return KNOWN_SPECIFIERS.has(spec);
}

export function isDeprecatedSpecifier(spec: string): boolean {
  return DEPRECATED_SPECIFIERS.has(spec);
}

/**
 * fleet's unitPrintf() (job/job.go): in [X-Fleet] values, `%n` is the full unit name, `%N` the name
 * without the type suffix, `%p` the prefix before '@', `%i` the instance ('' for non-instances).
 * Every other `%` sequence is left as it is. Replacements run one after another over the whole
 * string like fleet's strings.Replace calls (so `%%n` becomes `%` + the name: fleet has no `%%`).
 * A name without '.' gets no expansion at all, as in fleet.
 */
export function expandFleetSpecifiers(value: string, unitName: string): string {
  if (!value.includes('%')) return value;
  const dot = unitName.lastIndexOf('.');
  if (dot < 0) return value;
  const name = unitName.slice(0, dot);
  const at = name.indexOf('@');
  const prefix = at < 0 ? name : name.slice(0, at);
  const instance = at < 0 ? '' : name.slice(at + 1);
  return value
    .replaceAll('%n', () => unitName)
    .replaceAll('%N', () => name)
    .replaceAll('%p', () => prefix)
    .replaceAll('%i', () => instance);
}
