// The `mesh` command: one entry point; the subcommands are listed in cli/commands/index.ts.
import { COMMANDS } from './commands/index.ts';
import { hoistGlobalFlags } from './global-flags.ts';

// A reader that stops early (`mesh install | head`, `mesh viz tap ... | grep -m1`, a pager
// quit) closes the pipe under us. A Go or C command dies quietly of SIGPIPE there; Node ignores
// SIGPIPE and raises EPIPE on stdout instead, which unhandled printed a stack trace. Nobody is
// left to read what remains, so stop quietly; any other stdout error stays an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

async function usage(): Promise<void> {
  const lines = ['usage: mesh <command> [options]   (mesh <command> --help for its options)', '', 'commands:'];
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  for (const [name, load] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(width)} ${(await load()).summary}`);
  }
  console.log(lines.join('\n'));
}

async function main(all: string[]): Promise<number> {
  if (all.length === 0 || all[0] === '--help' || all[0] === '-h' || all[0] === 'help') {
    await usage();
    return all.length === 0 ? 2 : 0;
  }
  const split = hoistGlobalFlags(all);
  if (typeof split === 'string') {
    console.error(`mesh: ${split}. Run "mesh --help" to list commands.`);
    return 2;
  }
  const { command: argv, globals } = split;
  if (argv.length === 0) {
    console.error(`mesh: ${globals.join(' ')} but no command. Run "mesh --help" to list commands.`);
    return 2;
  }
  // Longest match first: `identity init ...` before a hypothetical `identity ...`.
  for (let words = Math.min(argv.length, 3); words >= 1; words--) {
    const load = COMMANDS[argv.slice(0, words).join(' ')];
    if (load) {
      const code = await (await load()).run([...globals, ...argv.slice(words)]);
      return typeof code === 'number' ? code : 0;
    }
  }
  // The first word of a group (`mesh identity`, `mesh viz stats`): name the group's commands.
  const group = Object.keys(COMMANDS).filter((name) => name.startsWith(`${argv[0]} `));
  if (group.length > 0) {
    console.error(`mesh: unknown command "${argv.join(' ')}"; the ${argv[0]} commands are: ${group.map((name) => `mesh ${name}`).join(', ')}.`);
    return 2;
  }
  console.error(`mesh: unknown command "${argv.join(' ')}". Run "mesh --help" to list commands.`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`mesh: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
