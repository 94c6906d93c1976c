// `mesh check --pre`: before anything starts, what the demo needs from this machine: a recent
// enough Node, its 127.0.10.N addresses usable, every address it binds free, its state folder writable.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allProcesses, buildPlan, defaultDirs } from '../../examples/orders-checkout/runner/run-demo.ts';
import { tryBind } from '../../examples/orders-checkout/runner/preflight.ts';
import { fail, ok, okWith, type Category } from './report.ts';
import { splitHostPort } from '../../api/host-port.ts';

/** The oldest Node the project supports (package.json "engines"). */
export const MIN_NODE = [20, 10] as const;

const splitAddress = (address: string) => splitHostPort(address, 'address');

export function preCategories(root: string, stateDir: string, nodeVersion = process.versions.node): Category[] {
  const dirs = defaultDirs(root);
  const plan = () => buildPlan({ root, stateDir, ...dirs });
  const listens = () => allProcesses(plan()).flatMap((p) => p.listens.map((address) => ({ address, owner: p.name })));
  return [{
    name: 'pre-demo-setup',
    checks: [
      {
        description: `Node.js is ${MIN_NODE.join('.')} or newer`, hint: 'install Node.js 20 (20.10 or newer), e.g. with nvm: nvm install 20',
        run: () => {
          const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
          const fine = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
          return fine ? okWith(`v${nodeVersion}`) : fail(`this is Node.js v${nodeVersion}`, 'install Node.js 20 (20.10 or newer), e.g. with nvm: nvm install 20');
        },
      },
      {
        description: 'the pods\' loopback addresses are usable', hint: 'Linux routes all of 127.0.0.0/8 to loopback; on macOS add each address: sudo ifconfig lo0 alias 127.0.10.N up',
        run: async () => {
          const hosts = [...new Set(listens().map((l) => splitAddress(l.address).host))];
          const bad: string[] = [];
          for (const host of hosts) {
            const err = await tryBind(host, 0);
            if (err) bad.push(`${host}: ${err.code === 'EADDRNOTAVAIL' ? 'not an address of this machine' : err.code ?? err.message}`);
          }
          return bad.length ? fail(bad.join('\n'), `Linux routes all of 127.0.0.0/8 to loopback; on macOS add each address first: sudo ifconfig lo0 alias ${splitAddress(bad[0]!).host} up`) : okWith(`${hosts.length} addresses`);
        },
      },
      {
        description: 'every address the demo listens on is free', hint: 'stop what holds it',
        run: async () => {
          const bad: string[] = [];
          const all = listens();
          for (const { address, owner } of all) {
            const { host, port } = splitAddress(address);
            const err = await tryBind(host, port);
            if (err?.code === 'EADDRINUSE') bad.push(`${address} (for ${owner}) is already in use`);
            else if (err && err.code !== 'EADDRNOTAVAIL') bad.push(`${address} (for ${owner}): ${err.code ?? err.message}`);
          }
          if (bad.length === 0) return okWith(`${all.length} addresses`);
          const port = splitAddress(bad[0]!.split(' ')[0]!).port;
          return fail(bad.join('\n'), `is the demo already running (mesh pods)? Else see who holds it: ss -ltnp 'sport = :${port}'  (or: lsof -iTCP:${port} -sTCP:LISTEN)`);
        },
      },
      {
        description: `the state folder ${stateDir} is writable`, hint: `choose another with --state DIR or $MESH_STATE_DIR`,
        run: () => {
          const probe = join(stateDir, `.mesh-check-${process.pid}`);
          try {
            mkdirSync(stateDir, { recursive: true });
            writeFileSync(probe, 'probe\n');
            rmSync(probe);
            return ok;
          } catch (err) {
            return fail(`${stateDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, `fix its permissions, or choose another with --state DIR or $MESH_STATE_DIR`);
          }
        },
      },
    ],
  }];
}
