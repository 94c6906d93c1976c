// Builds the Kubernetes control plane once before the suite (kubernetes/cluster/build.sh: cached,
// loud on failure: the suite must fail, never skip, when there is no control plane).
import { ensureKubernetesBuilt } from '../helpers/kube-cluster.ts';

export default function setup(): void {
  ensureKubernetesBuilt();
}
