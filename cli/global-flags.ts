// The flags `mesh` takes before the command word, as kubectl does (`mesh -n production check`).

/**
 * Flags that may come before the command, as kubectl's do (`mesh -n production check --proxy`,
 * Linkerd's lessons write it so): each is handed to the command as if written after it.
 */
const GLOBAL_FLAGS = new Set(['-n', '--namespace', '--state']);

/** Splits leading global flags (with their values) off the command words. */
export function hoistGlobalFlags(argv: string[]): { command: string[]; globals: string[] } | string {
  const globals: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const arg = argv[i]!;
    const name = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    if (!GLOBAL_FLAGS.has(name)) return `"${arg}" before the command: only ${[...GLOBAL_FLAGS].join(', ')} may come before it`;
    if (arg.includes('=')) {
      globals.push(arg);
      i += 1;
    } else {
      if (i + 1 >= argv.length || argv[i + 1]!.startsWith('-')) return `${arg} needs a value`;
      globals.push(arg, argv[i + 1]!);
      i += 2;
    }
  }
  return { command: argv.slice(i), globals };
}
