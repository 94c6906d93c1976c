// `mesh check`: Linkerd's `linkerd check` for the demo. The control plane (CA files, identity,
// destination, resources, viz) and the data plane (each proxy ready, its certificate, its clock,
// tap); `--proxy` shows the data plane pod by pod; `--pre` checks this machine before a start.
// With a kubeconfig, the same for a Kubernetes cluster (check/kubernetes.ts).
import { resolve } from 'node:path';
import { projectRoot } from '../../api/locate.ts';
import { defaultStateDir } from '../../examples/orders-checkout/runner/state.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';
import { controlPlaneCategory, identityCategory, readCaFiles, resourcesCategory, type CaFiles } from '../check/control-plane.ts';
import { vizCategory } from '../check/viz.ts';
import { dataPlaneByPod, dataPlaneSummary, inspectPods, type PodFindings } from '../check/data-plane.ts';
import { demoCategory } from '../check/demo-category.ts';
import { preCategories } from '../check/pre.ts';
import { controlPlaneCategories, dataPlaneCategory, kubernetesApiCategory, preKubernetesCategory, type Kube } from '../check/kubernetes.ts';
import { findKubeconfig } from '../../api/kube-config.ts';
import { report } from '../check/report.ts';
import type { FoundDemo } from '../find-demo.ts';

export const summary = 'check the running demo (control plane, certificates, resources, proxies), or with --pre this machine before a start';

const USAGE = `usage: mesh check [--proxy] [-n NS] [--pre] [-o table|json] [--state DIR | --kubeconfig FILE]
  --proxy         check the data plane pod by pod (with -n, only that namespace's pods)
  -n NS           the namespace whose pods --proxy checks (default: every namespace)
  --pre           check, before anything starts, what the demo (or mesh install) needs
  -o FORMAT       table (default, Linkerd's) or json
  --state DIR     the demo's state folder (default $MESH_STATE_DIR, else the nearest .mesh-state/ above the working directory, else the project's)
  --kubeconfig F  check a Kubernetes cluster. Without --state, a kubeconfig found as kubectl finds
                  one ($KUBECONFIG, ~/.kube/config) means the cluster too; else the demo on this machine

Exit status 1 when any check fails (×); warnings (‼) do not fail.`;

const OPTIONS = {
  proxy: { type: 'boolean', default: false },
  namespace: { type: 'string', short: 'n' },
  pre: { type: 'boolean', default: false },
  output: { type: 'string', short: 'o', default: 'table' },
  state: { type: 'string' },
  kubeconfig: { type: 'string' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('check', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS);
    const output = values.output;
    if (output !== 'table' && output !== 'json') throw new UsageError(`-o must be "table" or "json", got "${output}"`);
    if (values.pre && values.proxy) throw new UsageError('--pre checks before a start, --proxy a running demo: choose one');
    if (values.state && values.kubeconfig) throw new UsageError('--state checks the demo, --kubeconfig a cluster: choose one');
    // As linkerd check: the cluster kubectl would talk to, unless the demo's state folder is named.
    const kubeconfig = values.state ? undefined : findKubeconfig(values.kubeconfig);
    if (kubeconfig) return checkCluster(kubeconfig, values.pre, values.proxy, values.namespace, output);
    if (values.pre) return report(output, preCategories(projectRoot, resolve(values.state ?? defaultStateDir(projectRoot))));
    return check(values.state, values.proxy, values.namespace, output);
  });
}

async function checkCluster(kubeconfig: string, pre: boolean, byPod: boolean, namespace: string | undefined, output: 'table' | 'json'): Promise<number> {
  let kube: Kube | undefined;
  const found = () => kube!;
  return report(output, [kubernetesApiCategory(kubeconfig, (k) => (kube = k))], () => {
    if (pre) return [preKubernetesCategory(found)];
    return [...controlPlaneCategories(found), ...(byPod ? [dataPlaneCategory(found, namespace)] : [])];
  });
}

async function check(state: string | undefined, byPod: boolean, namespace: string | undefined, output: 'table' | 'json'): Promise<number> {
  let demo: FoundDemo | undefined;
  return report(output, [demoCategory(state, (d) => (demo = d))], () => {
    const d = demo!;
    let ca: CaFiles | undefined;
    const caFiles = () => (ca ??= readCaFiles(d.trustAnchorsFile));
    const pods = d.run.pods.filter((p) => !namespace || p.namespace === namespace);
    let findings: Promise<PodFindings[]> | undefined;
    const inspect = () => (findings ??= inspectPods(pods, { stateDir: d.dir, trustAnchorsFile: d.trustAnchorsFile, anchors: () => caFiles().anchors }));
    return Promise.all([
      identityCategory(d, caFiles),
      controlPlaneCategory(d, caFiles),
      resourcesCategory(d.resourcesDir),
      vizCategory(d),
      byPod ? dataPlaneByPod(inspect(), namespace) : dataPlaneSummary(inspect, namespace),
    ]);
  });
}
