/**
 * `gitfleet completion bash|zsh`: shell completion generated from the CLI's own command tree
 * (commander's commands, options, choices), so it never lists a flag the CLI does not have.
 * Completes command names, each command's options and the common ones, the values of options with
 * fixed choices (`--format`), file and directory arguments, and choice arguments (`completion bash`).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are shell script text
import type { Command, Option } from 'commander';

interface Opt {
  flags: string[];
  takesValue: boolean;
  choices: string[];
  /** What kind of value: a file, a directory, or anything. */
  value: 'file' | 'dir' | 'any';
  help: string;
}

interface Cmd {
  name: string;
  help: string;
  options: Opt[];
  /** Choices of the first argument, if it has fixed ones. */
  argChoices: string[];
  /** The arguments are files (submit, lint). */
  fileArgs: boolean;
}

function opt(o: Option): Opt {
  const flags = [o.short, o.long].filter((f): f is string => Boolean(f));
  const takesValue = o.required || o.optional;
  const v = o.flags.toLowerCase();
  const value = /<[^>]*(dir|path)[^>]*>/.test(v) ? 'dir' : /<[^>]*file[^>]*>/.test(v) ? 'file' : 'any';
  return { flags, takesValue, choices: o.argChoices ?? [], value, help: o.description };
}

function tree(program: Command): { globals: Opt[]; commands: Cmd[] } {
  const globals = [...program.options.filter((o) => !o.hidden).map(opt), opt(program.createOption('-h, --help'))];
  const commands = program.commands.map((c) => {
    const arg = c.registeredArguments[0];
    return {
      name: c.name(),
      help: c.description(),
      options: c.options.filter((o) => !o.hidden).map(opt),
      argChoices: arg?.argChoices ?? [],
      fileArgs: /^(paths|files)$/.test(arg?.name() ?? ''),
    };
  });
  return { globals, commands };
}

const shellWords = (xs: string[]): string => xs.join(' ');
/** Single-quoted for the shell. */
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(program: Command): string {
  const { globals, commands } = tree(program);
  const valueCase = (opts: Opt[], indent: string): string[] =>
    opts
      .filter((o) => o.takesValue)
      .map((o) => {
        const words = o.choices.length
          ? `COMPREPLY=($(compgen -W ${q(shellWords(o.choices))} -- "$cur"))`
          : o.value === 'dir'
            ? 'COMPREPLY=($(compgen -d -- "$cur"))'
            : o.value === 'file'
              ? 'COMPREPLY=($(compgen -f -- "$cur"))'
              : 'COMPREPLY=()';
        return `${indent}${o.flags.join('|')}) ${words}; return ;;`;
      });
  const lines = [
    '# gitfleet completion for bash. Load it with: eval "$(gitfleet completion bash)"',
    '# or save it as /etc/bash_completion.d/gitfleet (or ~/.local/share/bash-completion/completions/gitfleet).',
    '_gitfleet() {',
    '  local cur prev cmd i w',
    '  COMPREPLY=()',
    '  cur="${COMP_WORDS[COMP_CWORD]}"',
    '  prev="${COMP_WORDS[COMP_CWORD-1]}"',
    `  local commands=${q(shellWords(commands.map((c) => c.name)))}`,
    `  local globals=${q(shellWords(globals.flatMap((o) => o.flags)))}`,
    '  cmd=""',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    '    w="${COMP_WORDS[i]}"',
    '    if [[ -z "$cmd" && "$w" != -* && " $commands " == *" $w "* ]]; then cmd="$w"; fi',
    '  done',
    '  case "$prev" in',
    ...valueCase(globals, '    '),
    '  esac',
    '  case "$cmd" in',
    '    "")',
    '      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$globals" -- "$cur"));',
    '      else COMPREPLY=($(compgen -W "$commands" -- "$cur")); fi',
    '      return ;;',
  ];
  for (const c of commands) {
    lines.push(`    ${c.name})`);
    const values = valueCase(c.options, '        ');
    if (values.length) lines.push('      case "$prev" in', ...values, '      esac');
    const flags = q(shellWords(c.options.flatMap((o) => o.flags)));
    lines.push(`      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${flags}" $globals" -- "$cur")); return; fi`);
    if (c.argChoices.length) lines.push(`      COMPREPLY=($(compgen -W ${q(shellWords(c.argChoices))} -- "$cur"))`);
    else if (c.fileArgs) lines.push('      COMPREPLY=($(compgen -f -- "$cur"))');
    lines.push('      ;;');
  }
  lines.push('  esac', '}', 'complete -o default -F _gitfleet gitfleet', '');
  return lines.join('\n');
}

/** One `_arguments` spec for an option (zsh): `(--a --b)'{--a,--b}'[help]:value:action'`. */
function zshSpec(o: Opt): string[] {
  const help = o.help.replace(/[[\]:\\]/g, ' ').replace(/'/g, '');
  const action = !o.takesValue
    ? ''
    : o.choices.length
      ? `:value:(${o.choices.join(' ')})`
      : o.value === 'dir'
        ? ':directory:_directories'
        : o.value === 'file'
          ? ':file:_files'
          : ':value:';
  return o.flags.map((f) => q(`${f}[${help}]${action}`));
}

function zsh(program: Command): string {
  const { globals, commands } = tree(program);
  const describe = commands.map((c) => `    ${q(`${c.name}:${c.help.replace(/:/g, ' ')}`)}`);
  const lines = [
    '#compdef gitfleet',
    '# gitfleet completion for zsh. Load it with: eval "$(gitfleet completion zsh)" (after compinit),',
    '# or save it as _gitfleet in a directory of your $fpath.',
    '_gitfleet() {',
    '  local curcontext="$curcontext" state line',
    '  local -a commands globals',
    '  commands=(',
    ...describe,
    '  )',
    `  globals=(${globals.flatMap(zshSpec).join(' ')})`,
    "  _arguments -C $globals '1: :->command' '*:: :->args' && return",
    '  case $state in',
    "    command) _describe -t commands 'gitfleet command' commands ;;",
    '    args)',
    '      case $line[1] in',
  ];
  for (const c of commands) {
    const args = c.argChoices.length
      ? [q(`*:${c.name}:(${c.argChoices.join(' ')})`)]
      : c.fileArgs
        ? [q('*:file:_files')]
        : [];
    lines.push(`        ${c.name}) _arguments $globals ${[...c.options.flatMap(zshSpec), ...args].join(' ')} ;;`);
  }
  lines.push(
    '      esac ;;',
    '  esac',
    '}',
    'if [ "$funcstack[1]" = "_gitfleet" ]; then _gitfleet "$@"; else compdef _gitfleet gitfleet; fi',
    '',
  );
  return lines.join('\n');
}

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  return shell === 'bash' ? bash(program) : zsh(program);
}
