/**
 * `gitfleet completion bash|zsh`, generated from the CLI's command tree: the bash script is loaded
 * into a real bash and asked what it completes, as bash does on TAB (COMP_WORDS / COMP_CWORD).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../support/git.js';
import { gitfleet } from '../support/cli.js';

const tmp = tempDir('gitfleet-completion-');
after(() => tmp.cleanup());

test('bash: commands, their options and the common ones, option values with choices, files', async () => {
  const r = await gitfleet(['completion', 'bash']);
  assert.equal(r.code, 0, r.stderr);
  const script = join(tmp.dir, 'gitfleet.bash');
  writeFileSync(script, r.stdout);
  writeFileSync(join(tmp.dir, 'hello.service'), '');
  const cases: [string[], string[]][] = [
    [
      ['gitfleet', 'li'],
      ['lint', 'list-machines', 'list-units', 'list-unit-files'],
    ],
    [
      ['gitfleet', 'list-units', '--f'],
      ['--format', '--full', '--fields'],
    ],
    [
      ['gitfleet', 'list-unit-files', '--format', ''],
      ['text', 'json'],
    ],
    [
      ['gitfleet', '--etcd', 'http://x:2379', 'list-u'],
      ['list-units', 'list-unit-files'],
    ],
    [
      ['gitfleet', 'cat', '--e'],
      ['--etcd', '--endpoint', '--etcd-ca', '--etcd-cert', '--etcd-key', '--etcd-user', '--etcd-password-file'],
    ],
    [
      ['gitfleet', 'completion', ''],
      ['bash', 'zsh'],
    ],
    [['gitfleet', 'up', '--systemd', 'p'], ['private']],
    [['gitfleet', 'submit', `${tmp.dir}/hel`], [`${tmp.dir}/hello.service`]],
    [
      ['gitfleet', 'destroy', '--p'],
      ['--path', '--push', '--prefix'],
    ],
  ];
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text
  const lines = [`source ${script}`, 'show() { COMPREPLY=(); _gitfleet; echo "${COMPREPLY[*]}"; }'];
  for (const [words] of cases)
    lines.push(`COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; show`);
  lines.push('complete -p gitfleet');
  const out = execFileSync('bash', ['--norc', '--noprofile', '-c', lines.join('\n')], { encoding: 'utf8' });
  const got = out.split('\n');
  for (const [i, [words, want]] of cases.entries())
    assert.deepEqual(got[i]!.split(' ').filter(Boolean), want, words.join(' '));
  assert.equal(got[cases.length], 'complete -o default -F _gitfleet gitfleet');
});

test('zsh: one _arguments spec per command, with every option the command has', async () => {
  const r = await gitfleet(['completion', 'zsh']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^#compdef gitfleet$/m);
  assert.match(r.stdout, /compdef _gitfleet gitfleet/);
  // Every command and option that --help lists.
  const help = (await gitfleet(['--help'])).stdout;
  const commands = [...help.split('Commands:')[1]!.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]!);
  assert.ok(commands.includes('list-units') && commands.includes('destroy'), commands.join(' '));
  for (const name of commands.filter((c) => c !== 'help')) {
    const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith(`${name}) _arguments`));
    assert.ok(line, `zsh completes ${name}`);
    const own = (await gitfleet([name, '--help'])).stdout.split('Global Options:')[0]!;
    for (const [, long] of own.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm))
      if (long !== '--help') assert.ok(line.includes(`'${long}[`), `${name} ${long}`);
  }
  assert.match(r.stdout, /'--format\[output format\]:value:\(text json\)'/);
  // The script uses no syntax beyond what bash also parses: its quoting and structure are sound.
  execFileSync('bash', ['-n'], { input: r.stdout });
});
