// What `mesh install` puts into the cluster, for the demo: the CRDs (`mesh install --crds`), then
// the control plane (namespaces, RBAC, Deployments and Services, the trust anchors, the webhook),
// from the same functions the command prints with, so the demo installs exactly what a user would.
import type { KubernetesObject } from '@kubernetes/client-node';
import { controlPlaneObjects, crdObjects } from '../../../../install/render.ts';
import { defaultValues } from '../../../../install/values.ts';
import { CONTROL_PLANE_NS, VIZ_NS } from '../../../../install/names.ts';

export interface InstallObjects {
  crds: KubernetesObject[];
  controlPlane: KubernetesObject[];
  /** The namespaces whose Deployments make the control plane. */
  namespaces: string[];
}

/**
 * The defaults, but the injector captures with HTTP_PROXY: this node's pods share its network
 * namespace, where proxy-init's rules would catch every pod's traffic (runner/README.md).
 */
function demoValues() {
  const v = defaultValues();
  v.proxy.capture = 'http-proxy';
  return v;
}

export async function installObjects(): Promise<InstallObjects> {
  return {
    crds: crdObjects() as KubernetesObject[],
    controlPlane: (await controlPlaneObjects(demoValues())) as KubernetesObject[],
    namespaces: [CONTROL_PLANE_NS, VIZ_NS],
  };
}
