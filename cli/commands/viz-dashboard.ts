// `mesh viz dashboard`: where the dashboard is (127.0.0.1:8084, DESIGN.md), and whether it answers.
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'print the dashboard\'s address (http://127.0.0.1:8084) and whether it is up';

const DASHBOARD = '127.0.0.1:8084';

export function run(args: string[]): Promise<number> {
  return runCommand('viz dashboard', `usage: mesh viz dashboard [--addr ${DASHBOARD}]`, async () => {
    const { values } = parseCommandArgs(args, { addr: { type: 'string', default: DASHBOARD } });
    const url = `http://${values.addr}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      console.log(`Dashboard: ${url} (open it in a browser)`);
      return 0;
    } catch {
      console.log(`Dashboard: ${url}`);
      console.error(`mesh viz dashboard: nothing answers at ${url} yet; the dashboard comes with npm start once it exists. Meanwhile: mesh viz stat deploy, mesh viz tap deploy/checkout`);
      return 1;
    }
  });
}
