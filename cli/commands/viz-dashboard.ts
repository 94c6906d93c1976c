// `mesh viz dashboard`: where the dashboard is (the running demo's record, else 127.0.0.1:8084,
// DESIGN.md), and whether it answers.
import { DemoNotFound, findDemo } from '../find-demo.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'print the dashboard\'s address (http://127.0.0.1:8084) and whether it is up';

const DASHBOARD = '127.0.0.1:8084';

/** --addr, else the running demo's dashboard, else DESIGN.md's address. */
function dashboardAddress(flag: string | undefined, state: string | undefined): string {
  if (flag) return flag;
  try {
    return findDemo({ flag: state }).run.controlPlane?.dashboardAddr ?? DASHBOARD;
  } catch (err) {
    if (err instanceof DemoNotFound) return DASHBOARD;
    throw err;
  }
}

export function run(args: string[]): Promise<number> {
  return runCommand('viz dashboard', `usage: mesh viz dashboard [--addr ${DASHBOARD}] [--state DIR]`, async () => {
    const { values } = parseCommandArgs(args, { addr: { type: 'string' }, state: { type: 'string' } });
    const url = `http://${dashboardAddress(values.addr, values.state)}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      console.log(`Dashboard: ${url} (open it in a browser)`);
      return 0;
    } catch {
      console.log(`Dashboard: ${url}`);
      console.error(`mesh viz dashboard: nothing answers at ${url}; the viz serves it (npm start runs it; alone: mesh viz serve). Meanwhile: mesh viz stat deploy, mesh viz tap deploy/checkout`);
      return 1;
    }
  });
}
