// The embedded runner: everything `npm start` does, in order. Check the addresses, prepare the
// state folder (stopping what a killed runner left running), start the control plane, then every
// pod (app + sidecar) and the ingress proxy, wait until each is ready, publish pods.json, print
// where things are, and stop it all on a signal.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readWorkloads } from './deployments.ts';
import { localPlacement, planDemo, type DemoPlan, type IngressPlan, type Placement, type PodPlan, type ProcessSpec } from './topology.ts';
import { clearRun, logsDir } from './state.ts';
import { checkAddressesFree } from './preflight.ts';
import { ensureIdentity, mintTokens } from './prepare-state.ts';
import { Supervisor, type Started } from './supervisor.ts';
import { takeOverStateFolder } from './leftovers.ts';
import { Kubelet, type KubePod } from './kubelet.ts';
import { KUBERNETES_BACKOFF, type BackoffSettings } from './backoff.ts';
import { StatusPublisher } from './status-publisher.ts';
import { Rollouts } from './rollout.ts';
import { startControlServer } from './control-server.ts';
import { CONTROL_PLANE_NAMESPACE } from '../../../api/spiffe.ts';

type PodIdentity = { name: string; namespace: string; ip: string; readyFile?: string };
import { banner } from './banner.ts';
import { checkResources } from './manifest-check.ts';
import { waitForEndToEnd } from './warm-up.ts';
import { codedError, CodedError } from '../../../api/errors.ts';
import { splitHostPort } from '../../../api/host-port.ts';

export interface DemoOptions {
  root: string;
  stateDir: string;
  workloadsDir: string;
  manifestsDir: string;
  readyTimeoutMs: number;
  /** Written to as the runner progresses; the banner goes here too. */
  say: (line: string) => void;
  /** The restart back-off (default Kubernetes's: 10 s doubling to 5 min); tests shorten it. */
  restartBackoff?: BackoffSettings;
  /** `--netns`: each pod in a network namespace of its own (netns/run-netns.ts); absent: loopback addresses. */
  pods?: PodNetwork;
}

/** Where pods run when they do not share the host's loopback: `--netns` (netns/run-netns.ts). */
export interface PodNetwork {
  placement: Placement;
  /** What the destination serves: the manifests with each Service's clusterIP. */
  resourcesDir: string;
  /** Makes the pod's sandbox (its network namespace, proxy-init) and returns its containers' specs to start there. */
  create(pod: PodPlan | IngressPlan): Promise<ProcessSpec[]>;
  /** Removes a deleted pod's sandbox. */
  remove(podName: string): Promise<void>;
  /** What a user on the host dials (pods.json, the banner): the forwarded front door, viz and dashboard. */
  published: { ingressUrl: string; vizAddr: string; dashboardAddr: string };
  /** The node's network namespace, where `ip netns exec` reaches the pods' addresses. */
  nodeNetns: string;
}

export class StartupError extends codedError('DEMO_STARTUP') {}

/** Ctrl-C while starting: not a failure, the user changed their mind. */
class StopRequested extends CodedError<'STOP_REQUESTED'> {
  constructor(signal: string) {
    super('STOP_REQUESTED', signal); // the runner prints it: "SIGINT: stopping what had started..."
  }
}

export function buildPlan(opts: Pick<DemoOptions, 'root' | 'stateDir' | 'workloadsDir' | 'manifestsDir' | 'pods'>): DemoPlan {
  const workloads = readWorkloads(opts.workloadsDir);
  const served = opts.pods?.resourcesDir ?? opts.manifestsDir;
  return planDemo(workloads, opts.pods?.placement ?? localPlacement(opts.stateDir, opts.root), relative(opts.root, served) || '.');
}

/** Runs the demo until SIGINT/SIGTERM; resolves with the exit code. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const plan = buildPlan(opts);
  const warnings = checkResources(opts.manifestsDir);
  const all = allProcesses(plan);
  const owners = new Map(all.flatMap((p) => p.listens.map((a) => [a, p.name] as const)));
  // A killed runner's pods still hold their addresses: they are stopped here, before anything binds.
  const { records, releaseLock } = await takeOverStateFolder(opts.stateDir, opts.say);
  let supervisor: Supervisor | undefined;
  let kubeletRef: Kubelet | undefined;
  let publishRef: StatusPublisher | undefined;
  let control: { close(): Promise<void> } | undefined;
  let stopRequested: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (stopRequested = resolve));
  const onSignal = (signal: NodeJS.Signals) => stopRequested(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // In namespaces of their own, pods' addresses cannot clash with anything on the host.
    if (!opts.pods) await checkAddressesFree(owners);
    opts.say(`state folder: ${opts.stateDir}`);
    for (const w of warnings) opts.say(`note: ${w}`);
    const identity = await ensureIdentity(plan, opts.root);
    opts.say(identity === 'created' ? 'created a new trust anchor and issuer (first run)' : 'using the existing trust anchor and issuer');
    await mintTokens(plan, opts.root);

    let failure: Started | undefined;
    supervisor = new Supervisor(opts.root, logsDir(opts.stateDir), (s) => {
      failure ??= s;
      opts.say(`! ${s.spec.name} exited (${s.exited?.signal ?? `code ${s.exited?.code}`}); its log: ${s.logFile}`);
    }, opts.restartBackoff ?? KUBERNETES_BACKOFF, records);
    const kubelet = new Kubelet(supervisor, (line) => opts.say(line));
    kubeletRef = kubelet;
    const deadline = () => Date.now() + opts.readyTimeoutMs;
    const startAndWait = async (pods: Array<{ pod: PodIdentity; specs: ProcessSpec[] | Promise<ProcessSpec[]> }>) => {
      // Sandboxes one at a time (each runs proxy-init's iptables), then every pod's containers at once.
      const ready: Array<{ pod: PodIdentity; specs: ProcessSpec[] }> = [];
      for (const p of pods) ready.push({ pod: p.pod, specs: await p.specs });
      const started = ready.map((p) => kubelet.runPod(p.pod, p.specs));
      await Promise.race([
        Promise.all(started.map((p) => waitPodReady(kubelet, p, deadline()))),
        stopped.then((sig) => { throw new StopRequested(sig); }),
      ]);
    };
    const controlPlanePod = (spec: ProcessSpec) => ({ pod: { name: spec.name, namespace: CONTROL_PLANE_NAMESPACE, ip: splitHostPort(spec.listens[0]!, `${spec.name} address`).host }, specs: [spec] });
    opts.say('starting the control plane: identity, destination, viz');
    await startAndWait(plan.controlPlane.filter((p) => p.name === 'identity').map(controlPlanePod));
    await startAndWait(plan.controlPlane.filter((p) => p.name !== 'identity').map(controlPlanePod));
    opts.say(`starting ${plan.pods.length} pods and the ingress`);
    const podOf = (p: PodPlan) => ({ pod: { name: p.name, namespace: p.namespace, ip: p.ip, readyFile: p.readyFile }, specs: opts.pods ? opts.pods.create(p) : p.sidecar ? [p.sidecar, p.app] : [p.app] });
    await startAndWait([
      { pod: { name: plan.ingress.name, namespace: plan.ingress.namespace, ip: plan.ingress.ip }, specs: opts.pods ? opts.pods.create(plan.ingress) : [plan.ingress.proxy] },
      ...plan.pods.filter((p) => p.meshed).map(podOf),
    ]);
    await startAndWait(plan.pods.filter((p) => !p.meshed).map(podOf));
    if (failure) throw new StartupError(`${failure.spec.name} failed; see ${failure.logFile}`);
    let stopSignal: string | undefined;
    void stopped.then((sig) => (stopSignal = sig));
    const notYet = await waitForEndToEnd(plan.placement.ingressUrl.replace('0.0.0.0', '127.0.0.1'), deadline(), () => stopSignal !== undefined);
    if (stopSignal) throw new StopRequested(stopSignal);
    if (notYet) opts.say(`note: every process is ready, but requests through the ingress still fail: ${notYet}`);

    // From here on the runner is the kubelet: restartPolicy Always, probes, status in pods.json.
    supervisor.keepRunning();
    const controlSocket = join(opts.stateDir, 'runner.sock');
    const publish = new StatusPublisher(opts.stateDir, plan, { manifestsDir: opts.pods?.resourcesDir ?? opts.manifestsDir, controlSocket, published: opts.pods?.published }, kubelet, supervisor);
    publishRef = publish;
    control = await startControlServer(controlSocket, new Rollouts(plan, kubelet, publish, opts.readyTimeoutMs, opts.pods));
    publish.now();
    opts.say(banner(plan, { stateDir: opts.stateDir, netns: opts.pods ? { published: opts.pods.published, node: opts.pods.nodeNetns } : undefined }));
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
    publishRef?.close();
    await control?.close();
    kubeletRef?.stopProbes();
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

/** Waits for a pod to be Ready; a container that exits while starting fails the start at once. */
async function waitPodReady(kubelet: Kubelet, pod: KubePod, deadline: number): Promise<void> {
  const exited = () => pod.containers.find((c) => c.process.exited);
  try {
    await kubelet.whenReady(pod, deadline, () => (exited() ? 'exited before it was ready' : undefined));
  } catch (err) {
    const c = exited() ?? pod.containers.find((x) => !x.ready) ?? pod.containers[0]!;
    const s = c.process;
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
