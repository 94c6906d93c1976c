// The `mesh` command: one entry point, one module per subcommand under cli/commands/.
// Each module exports `run(args: string[]): Promise<number | void>` and a one-line `summary`.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Command {
  summary: string;
  run(args: string[]): Promise<number | void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const commandsDir = join(here, 'commands');

/** Subcommands are the files in cli/commands; `identity-init.ts` is typed as `mesh identity init`. */
function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function load(name: string): Promise<Command> {
  return (await import(join(commandsDir, `${name}.ts`))) as Command;
}

async function usage(): Promise<void> {
  const lines = ['usage: mesh <command> [options]   (mesh <command> --help for its options)', '', 'commands:'];
  for (const name of commandNames()) {
    const cmd = await load(name);
    lines.push(`  ${name.replaceAll('-', ' ').padEnd(20)} ${cmd.summary}`);
  }
  console.log(lines.join('\n'));
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    await usage();
    return argv.length === 0 ? 2 : 0;
  }
  // Longest match first: `identity init` -> identity-init.ts, else `identity` -> identity.ts.
  const names = new Set(commandNames());
  for (let words = Math.min(argv.length, 3); words >= 1; words--) {
    const name = argv.slice(0, words).join('-');
    if (names.has(name)) {
      const code = await (await load(name)).run(argv.slice(words));
      return typeof code === 'number' ? code : 0;
    }
  }
  console.error(`mesh: unknown command "${argv[0]}". Run "mesh --help" to list commands.`);
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
