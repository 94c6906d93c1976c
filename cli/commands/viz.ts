// `mesh viz`: lists the viz's commands; `mesh viz <unknown>` says which exist.
import { COMMANDS } from './index.ts';

export const summary = 'watch the traffic: stat, top, tap, routes, edges, authz (mesh viz for the list)';

export async function run(args: string[]): Promise<number> {
  const names = Object.keys(COMMANDS).filter((n) => n.startsWith('viz '));
  const lines = ['usage: mesh viz <command> [options]   (mesh viz <command> --help for its options)', '', 'commands:'];
  for (const name of names) lines.push(`  ${name.slice(4).padEnd(18)} ${(await COMMANDS[name]!()).summary}`);
  if (args.length > 0 && args[0] !== '--help' && args[0] !== '-h') {
    console.error(`mesh viz: unknown command "${args[0]}"\n${lines.join('\n')}`);
    return 2;
  }
  console.log(lines.join('\n'));
  return 0;
}
