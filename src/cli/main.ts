#!/usr/bin/env node
/**
 * gitfleet's command line. Each command's module is imported only when that command runs, so
 * `gitfleet --help` and `gitfleet lint` start fast.
 * Exit status (shared/CLI.md): 0 success, 1 the check or operation failed, 2 usage error.
 */
import { Command, CommanderError, Option } from 'commander';
import { CliError, UsageError } from './errors.js';
import { VERSION } from '../version.js';

// biome-ignore lint/suspicious/noExplicitAny: commander passes each command its own argument types
type Action = (...args: any[]) => Promise<number | undefined>;

/** Run a command's action, map its errors to exit statuses, one line each on stderr. */
function wrap(load: () => Promise<{ run: Action }>): (...args: Parameters<Action>) => Promise<void> {
  return async (...args: Parameters<Action>) => {
    const mod = await load();
    const code = await mod.run(...args);
    process.exitCode = typeof code === 'number' ? code : 0;
  };
}

function storeOptions(cmd: Command): Command {
  return cmd
    .option('--etcd <urls>', 'etcd endpoints, comma-separated (default: $GITFLEET_ETCD, else http://127.0.0.1:2379)')
    .option('--prefix <prefix>', 'etcd key prefix', '/gitfleet')
    .option('--etcd-ca <file>', 'CA certificate for etcd TLS')
    .option('--etcd-cert <file>', 'client certificate for etcd TLS')
    .option('--etcd-key <file>', 'client key for etcd TLS')
    .option('--etcd-user <user>', 'etcd user (password from $GITFLEET_ETCD_PASSWORD)');
}

function formatOption(cmd: Command, choices: string[]): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(choices).default(choices[0]));
}

export function buildProgram(): Command {
  const program = new Command('gitfleet')
    .description('Run systemd units across a fleet of machines from git (CoreOS fleet, rebuilt as GitOps).')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  formatOption(
    program
      .command('lint')
      .description('lint unit files or unit repositories (a directory is a repo: its unit files and fleet.yaml)')
      .argument('[paths...]', 'files or directories', ['.'])
      .option('--strict', 'fail on warnings too'),
    ['text', 'json', 'github', 'sarif'],
  ).action(wrap(() => import('./lint.js')));

  storeOptions(
    formatOption(
      program
        .command('plan')
        .description('what a commit or range changes: units added, removed, changed (with diffs), state changes')
        .argument('[range]', 'REV (against its first parent) or BASE..HEAD; default HEAD')
        .option('--repo <dir>', 'the unit repository', '.')
        .option('--path <path>', 'directory of fleet.yaml inside the repository'),
      ['text', 'markdown', 'json'],
    ),
  ).action(wrap(() => import('./plan.js')));

  storeOptions(
    program
      .command('apply')
      .description('one controller pass: apply the branch head to the cluster, then exit')
      .requiredOption('--repo <dir|url>', 'the unit repository: a local path (bare or not) or an http(s) URL')
      .option('--branch <branch>', "branch to follow (default: the repository HEAD's branch)")
      .option('--path <path>', 'directory of fleet.yaml inside the repository')
      .option('--state-dir <dir>', 'where a remote repository is mirrored')
      .option('--allow-force-push', 'apply commits that do not descend from the applied one'),
  ).action(wrap(() => import('./apply.js')));

  storeOptions(
    program
      .command('controller')
      .description('follow a branch and apply every new commit')
      .requiredOption('--repo <dir|url>', 'the unit repository: a local path (bare or not) or an http(s) URL')
      .option('--branch <branch>', "branch to follow (default: the repository HEAD's branch)")
      .option('--path <path>', 'directory of fleet.yaml inside the repository')
      .option('--poll <seconds>', 'poll interval for remote repositories', '30')
      .option('--listen <addr>', 'serve the push webhook on HOST:PORT')
      .option('--webhook-secret-file <file>', 'shared secret for webhook signatures')
      .option('--state-dir <dir>', 'where a remote repository is mirrored')
      .option('--allow-force-push', 'apply commits that do not descend from the applied one'),
  ).action(wrap(() => import('./controller.js')));

  storeOptions(
    program
      .command('engine')
      .description('take part in the engine election and schedule units when leader')
      .option('--id <id>', 'engine id (default: hostname-pid)')
      .option('--lease-ttl <seconds>', 'leader lease TTL', '10'),
  ).action(wrap(() => import('./engine.js')));

  storeOptions(
    program
      .command('agent')
      .description('run the units scheduled to this machine')
      .option('--machine-id <id>', 'machine id (default: /etc/machine-id)')
      .option('--metadata <k=v,...>', 'machine metadata for [X-Fleet] MachineMetadata')
      .option('--address <addr>', 'address other machines know this one by (default: first non-loopback IPv4)')
      .addOption(
        new Option('--systemd <which>', 'which systemd to drive')
          .choices(['system', 'user', 'private'])
          .default('system'),
      )
      .option('--state-dir <dir>', 'where the agent keeps its unit files and private systemd', '/var/lib/gitfleet')
      .option('--journal-dir <dir>', "read units' journal lines from this journal directory (journalctl -D)")
      .option('--lease-ttl <seconds>', 'machine lease TTL', '10')
      .addOption(
        new Option('--on-exit <what>', 'what to do with units on SIGTERM').choices(['leave', 'stop']).default('leave'),
      ),
  ).action(wrap(() => import('./agent.js')));

  program
    .command('up')
    .description('everything in one process on an embedded store: follow this repo and run its units here')
    .option('--repo <dir>', 'the unit repository', '.')
    .option('--branch <branch>', 'branch to follow (default: the checked-out branch)')
    .option('--path <path>', 'directory of fleet.yaml inside the repository')
    .addOption(
      new Option('--systemd <which>', 'which systemd to drive (default: system if PID 1, else user, else private)')
        .choices(['auto', 'system', 'user', 'private'])
        .default('auto'),
    )
    .option(
      '--state-dir <dir>',
      'where unit files and a private systemd live (default: ~/.local/state/gitfleet/up-<repo hash>)',
    )
    .addOption(
      new Option('--on-exit <what>', 'what to do with units on Ctrl-C').choices(['leave', 'stop']).default('stop'),
    )
    .option('--once', 'converge, print the status and exit (units keep running unless --on-exit stop)')
    .action(wrap(() => import('./up.js')));

  storeOptions(
    formatOption(
      program
        .command('status')
        .description('applied commit, refusals, engine leader, machines, unit summary; or one unit')
        .argument('[unit]'),
      ['text', 'json'],
    ),
  ).action(wrap(() => import('./status.js')));
  storeOptions(
    formatOption(program.command('list-machines').description('machines and their metadata'), ['text', 'json']),
  )
    .option('--full', 'show full machine ids')
    .action(wrap(async () => ({ run: (await import('./list.js')).listMachines })));
  storeOptions(
    formatOption(program.command('list-units').description('what systemd reports for each unit on each machine'), [
      'text',
      'json',
    ]),
  )
    .option('--full', 'show full machine ids')
    .action(wrap(async () => ({ run: (await import('./list.js')).listUnits })));
  storeOptions(
    formatOption(
      program.command('list-unit-files').description('desired units: hash, desired state, where they are scheduled'),
      ['text', 'json'],
    ),
  )
    .option('--full', 'show full machine ids and hashes')
    .action(wrap(async () => ({ run: (await import('./list.js')).listUnitFiles })));
  storeOptions(
    formatOption(
      program
        .command('journal')
        .description("the unit's journal lines from the machine(s) that run it")
        .argument('<unit>')
        .option('--machine <id>', 'only this machine (an id or a unique prefix of one)')
        .option('-n, --lines <n>', 'how many lines (the last ones)', '10')
        .option('-f, --follow', 'keep printing new lines until Ctrl-C'),
      ['text', 'json'],
    ),
  ).action(wrap(() => import('./journal.js')));
  storeOptions(program.command('cat').description('the unit file as the cluster has it').argument('<unit>')).action(
    wrap(() => import('./cat.js')),
  );

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; every other parse failure is a usage error (2). Commander printed it.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`gitfleet: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof CliError) {
      process.stderr.write(`gitfleet: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    const err = e as Error;
    process.stderr.write(`gitfleet: ${err?.message ?? String(e)}\n`);
    if (process.env.GITFLEET_DEBUG) process.stderr.write(`${err?.stack}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
