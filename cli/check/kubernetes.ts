// `mesh check` against a Kubernetes cluster (Linkerd's categories): the API reachable and recent
// enough; before an install, the rights to install; after it, the CRDs, the control plane ready,
// its trust anchor and issuer, the injector's webhook; with --proxy, the data plane pod by pod.
import { X509Certificate } from 'node:crypto';
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  VersionApi,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { askKube, kubeStatus, loadKubeConfig } from '../../api/kube-config.ts';
import { splitPemCertificates } from '../../identity/ca-validate.ts';
import { PROXY_CONTAINER } from '../../injector/decision.ts';
import { CONFIG_CONFIGMAP, CONTROL_PLANE_NS, INJECTOR_TLS_SECRET, ISSUER_SECRET, TRUST_ROOTS_CONFIGMAP, VIZ_NS, WEBHOOK_CONFIGURATION } from '../../install/names.ts';
import { crdObjects } from '../../install/render.ts';
import { chainBreak, name, validForAWhile, withinValidity } from './certificates.ts';
import { fail, ok, okWith, warn, type Category } from './report.ts';

/** The oldest server the mesh is tested against (the one ../shared/k8s builds). */
const MIN_MINOR = 20;

/** The client and what every later check asks through it, made by the first category. */
export interface Kube {
  config: KubeConfig;
  core: CoreV1Api;
}

/** Linkerd's kubernetes-api: nothing else can be checked without it, so each check is fatal. */
export function kubernetesApiCategory(kubeconfig: string | undefined, found: (kube: Kube) => void): Category {
  let config: KubeConfig;
  const hint = `kubectl --kubeconfig ${kubeconfig ?? '(in-cluster)'} get ns should work first`;
  return {
    name: 'kubernetes-api',
    checks: [
      { description: 'can initialize the client', hint, fatal: true, run: () => ((config = loadKubeConfig(kubeconfig)), okWith(kubeconfig ?? 'in-cluster')) },
      {
        description: 'can query the Kubernetes API', hint, fatal: true,
        run: async () => {
          const v = await askKube(config, 'get /version', () => config.makeApiClient(VersionApi).getCode());
          found({ config, core: config.makeApiClient(CoreV1Api) });
          const minor = Number.parseInt(v.minor, 10);
          if (v.major !== '1' || minor < MIN_MINOR) return fail(`the server is ${v.gitVersion}; the mesh needs 1.${MIN_MINOR} or newer`, 'upgrade the cluster');
          return okWith(v.gitVersion);
        },
      },
    ],
  };
}

/** What `mesh install` creates, by API group and resource, cluster-wide and in mesh-system. */
const INSTALL_RIGHTS = [
  ['', 'namespaces', undefined], ['apiextensions.k8s.io', 'customresourcedefinitions', undefined],
  ['rbac.authorization.k8s.io', 'clusterroles', undefined], ['rbac.authorization.k8s.io', 'clusterrolebindings', undefined],
  ['admissionregistration.k8s.io', 'mutatingwebhookconfigurations', undefined],
  ['', 'serviceaccounts', CONTROL_PLANE_NS], ['', 'services', CONTROL_PLANE_NS], ['', 'configmaps', CONTROL_PLANE_NS], ['', 'secrets', CONTROL_PLANE_NS],
  ['apps', 'deployments', CONTROL_PLANE_NS], ['rbac.authorization.k8s.io', 'roles', CONTROL_PLANE_NS], ['rbac.authorization.k8s.io', 'rolebindings', CONTROL_PLANE_NS],
] as const;

/** `mesh check --pre`: the namespace is free, and this user may create everything the install does. */
export function preKubernetesCategory(kube: () => Kube): Category {
  return {
    name: 'pre-kubernetes-setup',
    checks: [
      {
        description: 'control plane namespace does not already exist', hint: `the mesh is installed already: mesh check; to start over: kubectl delete namespace ${CONTROL_PLANE_NS}`,
        run: async () => {
          const { config, core } = kube();
          try {
            await askKube(config, `get namespace ${CONTROL_PLANE_NS}`, () => core.readNamespace({ name: CONTROL_PLANE_NS }));
          } catch (err) {
            if (kubeStatus(err) === 404) return ok;
            throw err;
          }
          return fail(`namespace ${CONTROL_PLANE_NS} exists`, `the mesh is installed already: run mesh check; to start over: kubectl delete namespace ${CONTROL_PLANE_NS}`);
        },
      },
      {
        description: 'can create the resources mesh install makes', hint: 'ask a cluster admin for these rights, or install as one',
        run: async () => {
          const { config } = kube();
          const authz = config.makeApiClient(AuthorizationV1Api);
          const denied: string[] = [];
          for (const [group, resource, namespace] of INSTALL_RIGHTS) {
            const review = await askKube(config, 'create selfsubjectaccessreviews', () =>
              authz.createSelfSubjectAccessReview({ body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', group, resource, ...(namespace ? { namespace } : {}) } } } }));
            if (!review.status?.allowed) denied.push(`create ${resource}${group ? `.${group}` : ''}${namespace ? ` in ${namespace}` : ''}${review.status?.reason ? ` (${review.status.reason})` : ''}`);
          }
          return denied.length === 0 ? okWith(`${INSTALL_RIGHTS.length} kinds`) : fail(`not allowed: ${denied.join('; ')}`, 'ask a cluster admin for these rights, or install as one');
        },
      },
    ],
  };
}

const INSTALL_HINT = 'install it: mesh install --crds | kubectl apply -f - ; mesh install | kubectl apply -f -';

/** `mesh check` after an install: Linkerd's linkerd-existence, linkerd-identity and linkerd-webhooks. */
export function controlPlaneCategories(kube: () => Kube): Category[] {
  let anchors: X509Certificate[] | undefined;
  const readAnchors = async () => {
    const { config, core } = kube();
    const cm = await askKube(config, `get configmap ${CONTROL_PLANE_NS}/${TRUST_ROOTS_CONFIGMAP}`, () => core.readNamespacedConfigMap({ name: TRUST_ROOTS_CONFIGMAP, namespace: CONTROL_PLANE_NS }));
    return (anchors = splitPemCertificates(cm.data?.['ca-bundle.crt'] ?? '', `configmap ${TRUST_ROOTS_CONFIGMAP} key ca-bundle.crt`));
  };
  const secretCert = async (secret: string, key: string) => {
    const { config, core } = kube();
    const s = await askKube(config, `get secret ${CONTROL_PLANE_NS}/${secret}`, () => core.readNamespacedSecret({ name: secret, namespace: CONTROL_PLANE_NS }));
    const b64 = s.data?.[key];
    if (!b64) throw new Error(`secret ${CONTROL_PLANE_NS}/${secret} has no ${key}`);
    return splitPemCertificates(Buffer.from(b64, 'base64').toString('utf8'), `secret ${secret} key ${key}`);
  };
  const rotate = `issue a new one and apply it: mesh install --set identityTrustAnchorsPEM=... --set identity.issuer.tls.crtPEM=... --set identity.issuer.tls.keyPEM=... | kubectl apply -f -`;
  return [
    {
      name: 'mesh-existence',
      checks: [
        {
          description: `'${CONTROL_PLANE_NS}' namespace exists`, hint: INSTALL_HINT, fatal: true,
          run: async () => {
            const { config, core } = kube();
            await askKube(config, `get namespace ${CONTROL_PLANE_NS}`, () => core.readNamespace({ name: CONTROL_PLANE_NS }));
            return ok;
          },
        },
        {
          description: 'the mesh\'s CRDs are installed', hint: 'mesh install --crds | kubectl apply -f -',
          run: async () => {
            const { config } = kube();
            const list = await askKube(config, 'list customresourcedefinitions', () => config.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition());
            const have = new Map(list.items.map((c) => [c.metadata?.name, c]));
            const wanted = crdObjects().map((c) => (c as { metadata: { name: string } }).metadata.name);
            const missing = wanted.filter((n) => !have.has(n));
            const unready = wanted.filter((n) => have.has(n) && !have.get(n)!.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
            if (missing.length > 0) return fail(`missing: ${missing.join(', ')}`, 'mesh install --crds | kubectl apply -f -');
            return unready.length > 0 ? fail(`not established: ${unready.join(', ')}`, 'kubectl get crd; see their conditions') : okWith(`${wanted.length} CRDs`);
          },
        },
        {
          description: 'control plane pods are ready', hint: `kubectl -n ${CONTROL_PLANE_NS} get pods; something must run them (a node)`,
          run: async () => {
            const { config } = kube();
            const apps = config.makeApiClient(AppsV1Api);
            const notReady: string[] = [];
            let total = 0;
            for (const namespace of [CONTROL_PLANE_NS, VIZ_NS]) {
              const list = await askKube(config, `list deployments in ${namespace}`, () => apps.listNamespacedDeployment({ namespace, labelSelector: 'app.kubernetes.io/part-of=mesh' }));
              for (const d of list.items) {
                total++;
                const want = d.spec?.replicas ?? 1;
                const ready = d.status?.readyReplicas ?? 0;
                if (ready < want) notReady.push(`${namespace}/${d.metadata?.name}: ${ready}/${want} ready`);
              }
            }
            if (total === 0) return fail(`no control plane Deployments in ${CONTROL_PLANE_NS}`, INSTALL_HINT);
            return notReady.length > 0 ? fail(notReady.join('\n'), `kubectl -n ${CONTROL_PLANE_NS} get pods; kubectl -n ${CONTROL_PLANE_NS} describe pod ...`) : okWith(`${total} Deployments`);
          },
        },
      ],
    },
    {
      name: 'mesh-identity',
      checks: [
        { description: 'certificate config is valid', hint: INSTALL_HINT, fatal: true, run: async () => okWith(`${(await readAnchors()).length} trust anchor(s)`) },
        { description: 'trust anchors are within their validity period', hint: rotate, run: () => withinValidity(anchors!, 'trust anchor', rotate) },
        { description: 'trust anchors are valid for at least 60 days', hint: rotate, run: () => validForAWhile(anchors!, 'the trust anchor', rotate) },
        {
          description: 'issuer cert is signed by the trust anchor', hint: `the Secret ${CONTROL_PLANE_NS}/${ISSUER_SECRET} (written by mesh install, or by cert-manager with --identity-external-issuer)`,
          run: async () => {
            const chain = await secretCert(ISSUER_SECRET, 'tls.crt');
            const broken = chainBreak(chain, anchors!);
            return broken ? fail(broken, rotate) : withinValidity(chain, 'issuer', rotate);
          },
        },
      ],
    },
    {
      name: 'mesh-webhooks',
      checks: [
        {
          description: 'proxy-injector webhook has a valid caBundle for the injector\'s certificate', hint: 'mesh install | kubectl apply -f - (writes both again)',
          run: async () => {
            const { config } = kube();
            const hook = await askKube(config, `get mutatingwebhookconfiguration ${WEBHOOK_CONFIGURATION}`, () =>
              config.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }));
            const webhook = hook.webhooks?.[0];
            if (!webhook?.clientConfig.caBundle) return fail(`${WEBHOOK_CONFIGURATION} has no caBundle`, 'mesh install | kubectl apply -f -');
            const cas = splitPemCertificates(Buffer.from(webhook.clientConfig.caBundle, 'base64').toString('utf8'), `${WEBHOOK_CONFIGURATION} caBundle`);
            const leaf = (await secretCert(INJECTOR_TLS_SECRET, 'tls.crt'))[0]!;
            if (!cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) {
              return fail(`the injector's certificate "${name(leaf)}" is not signed by the webhook's caBundle: the API server will refuse to call it`, 'mesh install | kubectl apply -f - (writes both again)');
            }
            if (webhook.failurePolicy === 'Fail') return warn('failurePolicy is Fail: while the injector is down no pod can be created in the namespaces it selects', 'mesh install --set webhookFailurePolicy=Ignore | kubectl apply -f -');
            return withinValidity([leaf], 'the injector\'s certificate', 'mesh install | kubectl apply -f -');
          },
        },
      ],
    },
  ];
}

/** `mesh check --proxy [-n NS]`: every injected pod's proxy ready, on the current anchors and version. */
export function dataPlaneCategory(kube: () => Kube, namespace: string | undefined): Category {
  let pods: V1Pod[] | undefined;
  const injected = async () => {
    if (pods) return pods;
    const { config, core } = kube();
    const list = namespace
      ? await askKube(config, `list pods in ${namespace}`, () => core.listNamespacedPod({ namespace }))
      : await askKube(config, 'list pods', () => core.listPodForAllNamespaces());
    return (pods = list.items.filter((p) => [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].some((c) => c.name === PROXY_CONTAINER)));
  };
  const where = namespace ? `namespace ${namespace}` : 'the cluster';
  const podName = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;
  return {
    name: 'mesh-data-plane',
    checks: [
      {
        description: 'data plane namespace exists', hint: `kubectl create namespace ${namespace}`, fatal: true,
        run: async () => {
          if (!namespace) return ok;
          const { config, core } = kube();
          await askKube(config, `get namespace ${namespace}`, () => core.readNamespace({ name: namespace }));
          return ok;
        },
      },
      {
        description: 'data plane proxies are ready', hint: `kubectl annotate namespace ${namespace ?? 'NS'} linkerd.io/inject=enabled; kubectl rollout restart deployment -n ${namespace ?? 'NS'}`, fatal: true,
        run: async () => {
          const all = await injected();
          if (all.length === 0) return fail(`no pod in ${where} has the proxy`, `kubectl annotate namespace ${namespace ?? 'NS'} linkerd.io/inject=enabled; then kubectl rollout restart deployment -n ${namespace ?? 'NS'}`);
          const statuses = (p: V1Pod) => [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? [])];
          const notReady = all.filter((p) => !statuses(p).some((s) => s.name === PROXY_CONTAINER && s.ready));
          return notReady.length > 0
            ? fail(notReady.map((p) => `${podName(p)}: proxy not ready (phase ${p.status?.phase ?? 'unknown'})`).join('\n'), `kubectl -n ${namespace ?? 'NS'} describe pod ...; kubectl logs ... -c ${PROXY_CONTAINER}`)
            : okWith(`${all.length} pods`);
        },
      },
      {
        description: 'data plane proxies have the current trust anchors', hint: `kubectl rollout restart deployment -n ${namespace ?? 'NS'} (a restarted pod is injected with the current ones)`,
        run: async () => {
          const { config, core } = kube();
          const cm = await askKube(config, `get configmap ${CONTROL_PLANE_NS}/${TRUST_ROOTS_CONFIGMAP}`, () => core.readNamespacedConfigMap({ name: TRUST_ROOTS_CONFIGMAP, namespace: CONTROL_PLANE_NS }));
          const current = (cm.data?.['ca-bundle.crt'] ?? '').trim();
          const stale = (await injected()).filter((p) => {
            const proxy = [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].find((c) => c.name === PROXY_CONTAINER);
            const pem = proxy?.env?.find((e) => e.name === 'MESH_TRUST_ANCHORS_PEM')?.value;
            return pem !== undefined && pem.trim() !== current;
          });
          return stale.length > 0 ? fail(`${stale.map(podName).join(', ')}: injected with other trust anchors`, `kubectl rollout restart deployment -n ${namespace ?? 'NS'}`) : ok;
        },
      },
      {
        description: 'data plane is up-to-date', hint: `kubectl rollout restart deployment -n ${namespace ?? 'NS'}`,
        run: async () => {
          const { config, core } = kube();
          const cm = await askKube(config, `get configmap ${CONTROL_PLANE_NS}/${CONFIG_CONFIGMAP}`, () => core.readNamespacedConfigMap({ name: CONFIG_CONFIGMAP, namespace: CONTROL_PLANE_NS }));
          const version = (JSON.parse(cm.data?.['values.json'] ?? '{}') as { version?: string }).version;
          const old = (await injected()).map((p) => [p, proxyVersion(p)] as const).filter(([, v]) => v !== version);
          return old.length > 0
            ? warn(`${old.map(([p, v]) => `${podName(p)} (${v ?? 'no version'})`).join(', ')}: not the control plane's ${version}`, `kubectl rollout restart deployment -n ${namespace ?? 'NS'}`)
            : okWith(`proxy ${version}`);
        },
      },
    ],
  };
}

/**
 * The proxy's version: the injector's `linkerd.io/proxy-version` marker, else the tag of the
 * proxy container's image (a pod that carries the proxy itself, such as an ingress, has no marker).
 */
function proxyVersion(p: V1Pod): string | undefined {
  const marked = p.metadata?.annotations?.['linkerd.io/proxy-version'];
  if (marked) return marked;
  const image = [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].find((c) => c.name === PROXY_CONTAINER)?.image ?? '';
  const tag = /:([^:/@]+)$/.exec(image)?.[1];
  return tag;
}
