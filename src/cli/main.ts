#!/usr/bin/env node
/**
 * gitfleet's command line. Each command's module is imported only when that command runs, so
 * `gitfleet --help` and `gitfleet lint` start fast.
 * Exit status (docs/cli.md): 0 success, 1 the check or operation failed, 2 usage error.
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { CliError, UsageError } from './errors.js';
import { VERSION } from '../version.js';
import { LIST_FIELDS } from './fields.js';

// biome-ignore lint/suspicious/noExplicitAny: commander passes each command its own argument types
type Action = (...args: any[]) => Promise<number | undefined>;

/**
 * Run a command's action, map its errors to exit statuses, one line each on stderr. The action gets
 * its own options merged with the common ones (given before or after the command name).
 */
function wrap(load: () => Promise<{ run: Action }>): (...args: Parameters<Action>) => Promise<void> {
  return async (...args: Parameters<Action>) => {
    const cmd = args[args.length - 1] as Command;
    args[args.length - 2] = commonFlags(cmd);
    const mod = await load();
    const code = await mod.run(...args);
    process.exitCode = typeof code === 'number' ? code : 0;
  };
}

/**
 * The cluster flags every command shares, declared once on the program: commander then accepts
 * them before the command name and after it (`gitfleet --etcd URL list-units`, `gitfleet list-units
 * --etcd URL`), as fleetctl users type them.
 */
function commonOptions(program: Command): Command {
  return program
    .option('--etcd <urls>', 'etcd endpoints, comma-separated (default: $GITFLEET_ETCD, else http://127.0.0.1:2379)')
    .addOption(new Option('--endpoint <urls>', "the same as --etcd (fleetctl's name)"))
    .addOption(new Option('--format <format>', "output format (each command's own choices)").hideHelp())
    .option('--prefix <prefix>', 'etcd key prefix', '/gitfleet')
    .option('--etcd-ca <file>', 'CA certificate for etcd TLS')
    .option('--etcd-cert <file>', 'client certificate for etcd TLS')
    .option('--etcd-key <file>', 'client key for etcd TLS')
    .option('--etcd-user <user>', 'etcd user (password from --etcd-password-file, else $GITFLEET_ETCD_PASSWORD)')
    .option('--etcd-password-file <file>', "the etcd user's password (as `gitfleet auth setup` writes it)");
}

/**
 * The command's options with the common ones. `--endpoint` is `--etcd` under fleetctl's name (both
 * at once must agree). `--format` is the command's own (its choices differ), but commander hands it
 * to the program wherever it is written: it is checked against the command's choices here.
 */
function commonFlags(cmd: Command): Record<string, unknown> {
  const { endpoint, ...rest } = cmd.optsWithGlobals();
  const format = cmd.parent?.opts().format as string | undefined;
  if (format !== undefined) {
    const own = cmd.options.find((o) => o.long === '--format');
    if (!own) throw new UsageError(`${cmd.name()} has no --format`);
    if (own.argChoices && !own.argChoices.includes(format))
      throw new UsageError(`--format: "${format}" is not one of ${own.argChoices.join(', ')} for ${cmd.name()}`);
    rest.format = format;
  }
  if (endpoint !== undefined) {
    if (rest.etcd !== undefined && rest.etcd !== endpoint)
      throw new UsageError(`--endpoint ${endpoint} and --etcd ${rest.etcd} disagree: give one of them`);
    rest.etcd = endpoint;
  }
  return rest;
}

/** A command that talks to the cluster: its help lists the common cluster flags too. */
function storeOptions(cmd: Command): Command {
  return cmd.configureHelp({ showGlobalOptions: true });
}

/** How a remote --repo is reached: SSH key and known hosts, https credentials (docs/cli.md). */
function remoteOptions(cmd: Command): Command {
  return cmd
    .option('--ssh-key <file>', 'private key for ssh:// and user@host:path repositories (default: $GITFLEET_SSH_KEY)')
    .option(
      '--ssh-known-hosts <file>',
      'known_hosts to verify the SSH host key against (default: $GITFLEET_SSH_KNOWN_HOSTS)',
    )
    .option(
      '--git-credentials <file>',
      'https credentials: a token, user:password, or git-credential-store lines (default: $GITFLEET_GIT_CREDENTIALS)',
    );
}

function trustOptions(cmd: Command): Command {
  return cmd
    .option('--allowed-signers <file>', "accept only commits signed by these SSH keys (git's allowed-signers format)")
    .option('--trusted-keys <file>', 'accept only commits signed by these OpenPGP public keys (gpg --export)');
}

const METRICS_FLAG = '--metrics <addr>';
const METRICS_HELP = 'serve Prometheus metrics at http://HOST:PORT/metrics';

function formatOption(cmd: Command, choices: string[]): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(choices).default(choices[0]));
}

/**
 * fleetctl's verbs, as edits of the unit repository: fleet.yaml (or the unit file) changed and
 * committed, then pushed with --push (src/cli/verbs.ts).
 */
function verbCommands(program: Command): void {
  const verbs: [string, string, string][] = [
    ['start', '<units...>', 'set units to launched (fleet.yaml), commit'],
    ['stop', '<units...>', 'set units to loaded: stopped, still loaded on their machine (fleet.yaml), commit'],
    ['load', '<units...>', 'set units to loaded (fleet.yaml), commit'],
    ['unload', '<units...>', 'set units to inactive: placed nowhere (fleet.yaml), commit'],
    ['submit', '<files...>', 'copy unit files into the repository as inactive units, commit'],
    ['destroy', '<units...>', 'remove units: their file and fleet.yaml entry, commit'],
  ];
  for (const [verb, arg, description] of verbs) {
    program
      .command(verb)
      .description(description)
      .argument(arg, arg === '<files...>' ? 'unit files' : 'unit names; without a type suffix, .service')
      .option('--repo <dir>', 'the unit repository (a work tree)', '.')
      .option('--path <path>', 'directory of fleet.yaml inside the repository')
      .option('-m, --message <text>', 'the commit message (default: says what changed)')
      .option('--push', 'push the commit to the branch upstream')
      .action(wrap(async () => ({ run: (await import('./verbs.js')).verb(verb) })));
  }
}

export function buildProgram(): Command {
  const program = commonOptions(
    new Command('gitfleet')
      .description('Run systemd units across a fleet of machines from git (CoreOS fleet, rebuilt as GitOps).')
      .version(`gitfleet version ${VERSION}`, '-V, --version')
      .showHelpAfterError('(run with --help for usage)')
      .exitOverride(),
  );

  formatOption(
    program
      .command('lint')
      .description('lint unit files or unit repositories (a directory is a repo: its unit files and fleet.yaml)')
      .argument('[paths...]', 'files or directories', ['.'])
      .option('--strict', 'fail on warnings too')
      .option('--systemd', "also run systemd-analyze verify and report systemd's own findings (rule SYSTEMD)"),
    ['text', 'json', 'github', 'sarif'],
  ).action(wrap(() => import('./lint.js')));

  storeOptions(
    formatOption(
      trustOptions(program.command('plan'))
        .description('what a commit or range changes: units added, removed, changed (with diffs), state changes')
        .argument('[range]', 'REV (against its first parent) or BASE..HEAD; default HEAD')
        .option('--repo <dir>', 'the unit repository', '.')
        .option('--path <path>', 'directory of fleet.yaml inside the repository'),
      ['text', 'markdown', 'json'],
    ),
  ).action(wrap(() => import('./plan.js')));

  storeOptions(
    trustOptions(remoteOptions(program.command('apply')))
      .description('one controller pass: apply the branch head to the cluster, then exit')
      .requiredOption(
        '--repo <dir|url>',
        'the unit repository: a local path (bare or not), an https, ssh:// or user@host:path URL',
      )
      .option('--branch <branch>', "branch to follow (default: the repository HEAD's branch)")
      .option('--path <path>', 'directory of fleet.yaml inside the repository')
      .option('--state-dir <dir>', 'where a remote repository is mirrored')
      .option('--allow-force-push', 'apply commits that do not descend from the applied one'),
  ).action(wrap(() => import('./apply.js')));

  storeOptions(
    trustOptions(remoteOptions(program.command('controller')))
      .description('follow a branch and apply every new commit')
      .requiredOption(
        '--repo <dir|url>',
        'the unit repository: a local path (bare or not), an https, ssh:// or user@host:path URL',
      )
      .option('--branch <branch>', "branch to follow (default: the repository HEAD's branch)")
      .option('--path <path>', 'directory of fleet.yaml inside the repository')
      .option('--poll <seconds>', 'poll interval for remote repositories', '30')
      .option('--listen <addr>', 'serve the push webhook on HOST:PORT')
      .option('--webhook-secret-file <file>', 'shared secret for webhook signatures')
      .option('--state-dir <dir>', 'where a remote repository is mirrored')
      .option('--allow-force-push', 'apply commits that do not descend from the applied one')
      .option(METRICS_FLAG, METRICS_HELP),
  ).action(wrap(() => import('./controller.js')));

  storeOptions(
    program
      .command('engine')
      .description('take part in the engine election and schedule units when leader')
      .option('--id <id>', 'engine id (default: hostname-pid)')
      .option('--lease-ttl <seconds>', 'leader lease TTL', '10')
      .option('--machine-ttl <seconds>', "a machine's TTL when its record does not say (its agent's --lease-ttl)", '10')
      .option('--hold <seconds>', 'while most machines are silent at once, move nothing for at most this long', '300')
      .option('--notify <url>', "POST each rollout's start and end here (JSON)")
      .option('--notify-secret-file <file>', 'sign notifications: X-Gitfleet-Signature: sha256=HMAC')
      .option(METRICS_FLAG, METRICS_HELP),
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
      )
      .option(METRICS_FLAG, METRICS_HELP),
  ).action(wrap(() => import('./agent.js')));

  trustOptions(program.command('up'))
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
    .option(
      '--once',
      'converge, print the status and exit; on exit units are stopped as with Ctrl-C (--on-exit leave keeps them)',
    )
    .option('--allow-force-push', 'apply commits that do not descend from the applied one')
    .option('--ui <addr>', 'serve the web UI (and /metrics) on HOST:PORT, or "off"', '127.0.0.1:7070')
    .option('--token-file <file>', 'a token the web UI requires (needed when --ui is not a loopback address)')
    .action(wrap(() => import('./up.js')));

  storeOptions(
    formatOption(
      program
        .command('status')
        .description(
          'applied commit, refusals, engine leader, machines, units; or one unit (exit 1 while refused or failed)',
        )
        .argument('[unit]', 'one unit; without a type suffix, .service'),
      ['text', 'json'],
    ),
  ).action(wrap(() => import('./status.js')));
  const listing = (name: keyof typeof LIST_FIELDS, description: string, run: string, full: string) =>
    storeOptions(formatOption(program.command(name).description(description), ['text', 'json']))
      .option('--full', full)
      .option('--no-legend', 'do not print the column headers')
      .option('--fields <a,b,...>', `columns to print, of: ${LIST_FIELDS[name].all.join(',')}`)
      .action(wrap(async () => ({ run: (await import('./list.js'))[run as 'listUnits'] })));
  listing('list-machines', 'machines and their metadata', 'listMachines', 'show full machine ids');
  listing('list-units', 'what systemd reports for each unit on each machine', 'listUnits', 'show full machine ids');
  listing(
    'list-unit-files',
    'desired units: hash, desired state, where they are scheduled',
    'listUnitFiles',
    'show full machine ids and hashes',
  );
  storeOptions(
    formatOption(
      program
        .command('cat')
        .description('the unit file as the cluster has it (a template: as its instances run it)')
        .argument('<unit>', 'unit name; without a type suffix, .service'),
      ['text', 'json'],
    ),
  ).action(wrap(() => import('./cat.js')));

  storeOptions(
    formatOption(
      program
        .command('journal')
        .description("the unit's journal lines from the machine(s) that run it")
        .argument('<unit>', 'unit name; without a type suffix, .service')
        .option('--machine <id>', 'only this machine (an id or a unique prefix of one)')
        .option('-n, --lines <n>', 'how many lines (the last ones)', '10')
        .option('-f, --follow', 'keep printing new lines until Ctrl-C'),
      ['text', 'json'],
    ),
  ).action(wrap(() => import('./journal.js')));

  storeOptions(
    program
      .command('ui')
      .description('the read-only web UI (and /metrics) for a cluster')
      .option('--listen <addr>', 'HOST:PORT to serve on', '127.0.0.1:7070')
      .option('--token-file <file>', 'a token every request must carry (required unless on a loopback address)'),
  ).action(wrap(() => import('./ui.js')));

  const rollout = program.command('rollout').description("a commit's rollout: status, pause, resume");
  storeOptions(
    formatOption(
      rollout
        .command('status')
        .description('per unit and machine: pending, updating, healthy, failed; and the whole')
        .argument('[commit]', 'a commit (default: the latest rollout)')
        .option('--wait', 'follow it until it ends: exit 0 succeeded, 1 failed, reverted, superseded or timed out')
        .option('--timeout <seconds>', 'with --wait: give up after this long', '600'),
      ['text', 'json'],
    ),
  ).action(wrap(() => import('./rollout.js')));
  storeOptions(rollout.command('pause').description('hold the current rollout where it is')).action(
    wrap(async () => ({ run: async (flags) => (await import('./rollout.js')).setPaused(true, flags) })),
  );
  storeOptions(rollout.command('resume').description('let a paused rollout go on')).action(
    wrap(async () => ({ run: async (flags) => (await import('./rollout.js')).setPaused(false, flags) })),
  );

  const auth = program
    .command('auth')
    .description("etcd's users and roles: each component gets only the keys it needs");
  const rootOptions = (cmd: Command) =>
    storeOptions(cmd)
      .option('--root-password-file <file>', "etcd's root password (default: $GITFLEET_ETCD_ROOT_PASSWORD)")
      .option('--credentials-dir <dir>', "where each user's password file is written (0600)", '/etc/gitfleet/etcd');
  rootOptions(
    auth.command('setup').description('create the controller, engine and viewer users and roles, and turn auth on'),
  ).action(wrap(async () => ({ run: (await import('./auth.js')).setup })));
  rootOptions(
    auth
      .command('add-machine')
      .description("create one machine's user and role: its schedule, its record and its reports only")
      .argument('<id>', "the machine's id, as its agent's --machine-id"),
  ).action(wrap(async () => ({ run: (await import('./auth.js')).addMachine })));

  verbCommands(program);

  program
    .command('version')
    .description("gitfleet's version (also --version)")
    .action(() => {
      process.stdout.write(`gitfleet version ${VERSION}\n`);
    });
  program
    .command('completion')
    .description('shell completion script: eval "$(gitfleet completion bash)", or zsh')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
    .action(async (shell: 'bash' | 'zsh') => {
      const { completionScript } = await import('./completion.js');
      process.stdout.write(completionScript(program, shell));
    });

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
