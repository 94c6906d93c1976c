// The embedded runner: everything `npm start` does, in order. Check the addresses, prepare the
// state folder, start the control plane, then every pod (app + sidecar) and the ingress proxy, wait
// until each is ready, publish pods.json, print where things are, and stop it all on a signal.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readWorkloads } from './deployments.ts';
import { localPlacement, planDemo, type DemoPlan, type ProcessSpec } from './topology.ts';
import { acquireLock, clearRun, logsDir, writeRun, type PodRecord } from './state.ts';
import { checkAddressesFree, waitForHttp200, waitForTcp } from './preflight.ts';
import { ensureIdentity, mintTokens } from './prepare-state.ts';
import { identityDir } from './mesh-commands.ts';
import { Supervisor, type Started } from './supervisor.ts';
import { banner } from './banner.ts';
import { checkResources } from './manifest-check.ts';
import { waitForEndToEnd } from './warm-up.ts';
import { CodedError } from '../../../api/errors.ts';

export interface DemoOptions {
  root: string;
  stateDir: string;
  workloadsDir: string;
  manifestsDir: string;
  readyTimeoutMs: number;
  /** Written to as the runner progresses; the banner goes here too. */
  say: (line: string) => void;
}

export class StartupError extends CodedError<'DEMO_STARTUP'> {
  constructor(message: string, options?: ErrorOptions) {
    super('DEMO_STARTUP', message, options);
  }
}

/** Ctrl-C while starting: not a failure, the user changed their mind. */
class StopRequested extends CodedError<'STOP_REQUESTED'> {
  constructor(signal: string) {
    super('STOP_REQUESTED', signal); // the runner prints it: "SIGINT: stopping what had started..."
  }
}

export function buildPlan(opts: Pick<DemoOptions, 'root' | 'stateDir' | 'workloadsDir' | 'manifestsDir'>): DemoPlan {
  const workloads = readWorkloads(opts.workloadsDir);
  return planDemo(workloads, localPlacement(opts.stateDir, opts.root), relative(opts.root, opts.manifestsDir) || '.');
}

/** Runs the demo until SIGINT/SIGTERM; resolves with the exit code. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const plan = buildPlan(opts);
  const warnings = checkResources(opts.manifestsDir);
  const all = allProcesses(plan);
  const owners = new Map(all.flatMap((p) => p.listens.map((a) => [a, p.name] as const)));
  const releaseLock = acquireLock(opts.stateDir);
  let supervisor: Supervisor | undefined;
  let stopRequested: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (stopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals) => stopRequested(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await checkAddressesFree(owners);
    opts.say(`state folder: ${opts.stateDir}`);
    for (const w of warnings) opts.say(`note: ${w}`);
    const identity = await ensureIdentity(plan, opts.root);
    opts.say(identity === 'created' ? 'created a new trust anchor and issuer (first run)' : 'using the existing trust anchor and issuer');
    await mintTokens(plan, opts.root);

    let failure: Started | undefined;
    supervisor = new Supervisor(opts.root, logsDir(opts.stateDir), (s) => {
      failure ??= s;
      opts.say(`! ${s.spec.name} exited (${s.exited?.signal ?? `code ${s.exited?.code}`}); its log: ${s.logFile}`);
    });
    const deadline = () => Date.now() + opts.readyTimeoutMs;
    const startAndWait = async (specs: ProcessSpec[]) => {
      const started = specs.map((s) => supervisor!.start(s));
      await Promise.race([
        Promise.all(started.map((s) => waitReady(s, deadline()))),
        stopped.then((sig) => { throw new StopRequested(sig); }),
      ]);
    };
    opts.say('starting the control plane: identity, destination, viz');
    await startAndWait(plan.controlPlane.filter((p) => p.name === 'identity'));
    await startAndWait(plan.controlPlane.filter((p) => p.name !== 'identity'));
    opts.say(`starting ${plan.pods.length} pods and the ingress`);
    const meshed = plan.pods.filter((p) => p.meshed);
    await startAndWait([plan.ingress.proxy, ...meshed.flatMap((p) => [p.sidecar!, p.app])]);
    await startAndWait(plan.pods.filter((p) => !p.meshed).map((p) => p.app));
    if (failure) throw new StartupError(`${failure.spec.name} failed; see ${failure.logFile}`);
    let stopSignal: string | undefined;
    void stopped.then((sig) => (stopSignal = sig));
    const notYet = await waitForEndToEnd(plan.placement.ingressUrl.replace('0.0.0.0', '127.0.0.1'), deadline(), () => stopSignal !== undefined);
    if (stopSignal) throw new StopRequested(stopSignal);
    if (notYet) opts.say(`note: every process is ready, but requests through the ingress still fail: ${notYet}`);

    writeRun(opts.stateDir, {
      runnerPid: process.pid, startedAt: new Date().toISOString(), ingressUrl: plan.placement.ingressUrl, stateDir: opts.stateDir,
      controlPlane: {
        identityAddr: plan.placement.identityAddr, destinationAddr: plan.placement.destinationAddr,
        trustAnchorsFile: `${identityDir(plan.placement)}/ca.crt`, resourcesDir: opts.manifestsDir,
        vizAddr: plan.placement.vizAddr,
      },
      pods: [plan.ingress, ...plan.pods].map((p): PodRecord => ({
        name: p.name, namespace: p.namespace, workload: p.workload, ip: p.ip, serviceAccount: p.serviceAccount,
        identity: p.identity ?? null, meshed: p.meshed, adminUrl: p.meshed ? `http://${p.ip}:4191` : null,
        appPorts: p.ports.map((x) => x.containerPort), role: p === plan.ingress ? 'ingress' : 'workload',
      })),
      processes: supervisor.processes.map((s) => ({ name: s.spec.name, role: s.spec.role, pid: s.child.pid ?? -1, log: s.logFile })),
    });
    opts.say(banner(plan, opts));
    const signal = await stopped;
    opts.say(`\n${signal}: stopping every process of the demo...`);
    return 0;
  } catch (err) {
    if (!(err instanceof StopRequested)) throw err;
    opts.say(`\n${err.message}: stopping what had started...`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    clearRun(opts.stateDir);
    await supervisor?.stopAll();
    releaseLock();
    if (supervisor) {
      const left = supervisor.processes.filter((s) => !s.exited).map((s) => `${s.spec.name} (pid ${s.child.pid})`);
      opts.say(left.length === 0 ? `demo stopped: all ${supervisor.processes.length} processes exited` : `demo stopped, but these did not exit: ${left.join(', ')}`);
    }
  }
}

export function allProcesses(plan: DemoPlan): ProcessSpec[] {
  return [...plan.controlPlane, plan.ingress.proxy, ...plan.pods.flatMap((p) => (p.sidecar ? [p.sidecar, p.app] : [p.app]))];
}

async function waitReady(s: Started, deadline: number): Promise<void> {
  const dead = () => s.exited !== undefined;
  try {
    if (s.spec.readyUrl) await waitForHttp200(s.spec.readyUrl, deadline, dead);
    else if (s.spec.readyTcp) await waitForTcp(s.spec.readyTcp, deadline, dead);
    else await new Promise((r) => setTimeout(r, 300));
    if (dead()) throw new Error('exited');
  } catch (err) {
    const hint = s.spec.name === 'identity'
      ? `\n  The CA could not start from the state folder. If its files are damaged or expired, remove them\n  and a new trust anchor is made on the next start: rm -rf ${s.spec.command.at(s.spec.command.indexOf('--dir') + 1)}`
      : '';
    throw new StartupError(`${s.spec.name} did not become ready: ${(err as Error).message}\n${logTail(s.logFile)}${hint}`, { cause: err });
  }
}

/** The last lines of a process's log, so a failure explains itself without opening files. */
export function logTail(file: string, lines = 12): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
    return `  last lines of ${file}:\n${text.map((l) => `    ${l}`).join('\n')}`;
  } catch {
    return `  (no log at ${file})`;
  }
}

export const defaultDirs = (root: string) => ({
  workloadsDir: join(root, 'examples/orders-checkout/workloads'),
  manifestsDir: join(root, 'examples/orders-checkout/manifests'),
});
