// The `mesh` command: one entry point; the subcommands are listed in cli/commands/index.ts.
import { COMMANDS } from './commands/index.ts';

async function usage(): Promise<void> {
  const lines = ['usage: mesh <command> [options]   (mesh <command> --help for its options)', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(20)} ${(await load()).summary}`);
  }
  console.log(lines.join('\n'));
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    await usage();
    return argv.length === 0 ? 2 : 0;
  }
  // Longest match first: `identity init ...` before a hypothetical `identity ...`.
  for (let words = Math.min(argv.length, 3); words >= 1; words--) {
    const load = COMMANDS[argv.slice(0, words).join(' ')];
    if (load) {
      const code = await (await load()).run(argv.slice(words));
      return typeof code === 'number' ? code : 0;
    }
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
