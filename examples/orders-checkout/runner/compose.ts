// docker-compose.yml, generated from the same plan as the embedded runner: one image, the
// control plane, each pod as an app container plus a sidecar sharing its network namespace
// (`network_mode: service:<pod>-proxy`, as containers of a Kubernetes pod share one), fixed pod
// addresses on a private network, the CA state in a volume, the ingress proxy published on the
// host's 127.0.0.1:8000, a Prometheus scraping every proxy (from `mesh viz prometheus-config`) on
// 127.0.0.1:9090, and a healthcheck on every long-running service so that each starts only once
// what it calls is ready (an app after its proxy, as Linkerd's proxy-await does).
// Apps are intercepted as in a cluster: a one-shot `<pod>-proxy-init` (NET_ADMIN, in the pod's
// network namespace) installs `mesh proxy-init`'s iptables rules, the proxy runs as its own user,
// and the apps dial plain Service names, which each pod's /etc/hosts gives as clusterIPs.
import { stringify } from 'yaml';
import { prometheusConfig } from '../../../viz/prometheus-config.ts';
import { DEFAULT_PROXY_UID } from '../../../proxy-init/rules.ts';
import type { ServiceAddress } from './cluster-ips.ts';
import { proxyInitCommand } from './mesh-commands.ts';
import { composeSubnet, type DemoPlan, type Placement, type ProcessSpec } from './topology.ts';
import { splitHostPort } from '../../../api/host-port.ts';

const image = 'mesh-demo:local';
/** Debian's prometheus package is 2.42 too: the version the viz's Prometheus mode is tested with. */
const prometheusImage = 'prom/prometheus:v2.42.0';
const prometheusIp = '172.28.0.13';
const volume = 'mesh-state';

/** Where `mesh demo prepare --platform compose` writes the manifests with clusterIPs, which the destination serves. */
export const composeManifestsDir = (p: Placement) => `${p.stateDir}/manifests`;

interface ComposeService {
  image: string;
  entrypoint?: string[];
  build?: string;
  command: string[];
  environment?: Record<string, string>;
  volumes: string[];
  networks?: Record<string, { ipv4_address: string }>;
  network_mode?: string;
  extra_hosts?: string[];
  user?: string;
  cap_add?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: number; start_period: string };
  restart?: string;
  init: boolean;
}

export function composeFile(plan: DemoPlan, serviceAddresses: ServiceAddress[]): Record<string, unknown> {
  const services: Record<string, ComposeService> = {};
  const base = (spec: ProcessSpec, readOnly: boolean): ComposeService => ({
    image,
    command: spec.command,
    ...(Object.keys(spec.env).length ? { environment: spec.env } : {}),
    volumes: [`${volume}:${plan.placement.stateDir}${readOnly ? ':ro' : ''}`],
    // tini as PID 1: signals reach node, and zombies are reaped.
    init: true,
  });
  const ipOf = (addr: string) => splitHostPort(addr, 'compose address').host;
  const onNetwork = (ip: string) => ({ mesh: { ipv4_address: ip } });
  // One-shots must have finished; everything else must say it is healthy.
  const oneShot = (n: string) => n === 'mesh-init' || n.endsWith('-proxy-init');
  const after = (...names: string[]) => Object.fromEntries(names.map((n) => [n, { condition: oneShot(n) ? 'service_completed_successfully' : 'service_healthy' }]));
  // A cluster's DNS, for the pods whose apps dial Service names themselves.
  const hosts = serviceAddresses.map((s) => `${s.host}:${s.clusterIP}`);
  const controlPlane = [plan.placement.identityAddr, plan.placement.destinationAddr].join(',');
  // Checks cost a process every 2 s in every container, so they are curl and bash, never a node
  // (twenty node starts every 2 s kept two cores busy): a proxy's admin /ready, or a TCP connect.
  const check = (test: string[]) => ({ test, interval: '2s', timeout: '5s', retries: 60, start_period: '2s' });
  const ready = (url: string) => check(['CMD', 'curl', '-sf', '-o', '/dev/null', url]);
  const listening = (addr: string) => check(['CMD', 'bash', '-c', `exec 3<>/dev/tcp/${ipOf(addr)}/${splitHostPort(addr, 'compose address').port}`]);
  const health = (spec: ProcessSpec) => (spec.readyUrl ? ready(spec.readyUrl) : spec.readyTcp ? listening(spec.readyTcp) : undefined);
  const withHealth = (spec: ProcessSpec, service: ComposeService): ComposeService => {
    const h = health(spec);
    return h ? { ...service, healthcheck: h } : service;
  };

  // One-shot: the trust anchor and issuer on first run, and the pods' tokens, into the volume.
  services['mesh-init'] = {
    image, build: '.', init: true,
    command: ['node', 'bin/mesh.js', 'demo', 'prepare', '--state', plan.placement.stateDir, '--platform', 'compose'],
    volumes: [`${volume}:${plan.placement.stateDir}`],
  };
  for (const spec of plan.controlPlane) {
    const addr = spec.listens[0]!;
    const needs = spec.name === 'destination' ? ['identity'] : spec.name === 'viz' ? ['identity', 'destination'] : [];
    services[spec.name] = withHealth(spec, { ...base(spec, spec.name !== 'identity'), networks: onNetwork(ipOf(addr)), depends_on: after('mesh-init', ...needs), restart: 'on-failure' });
    // The viz API is published on the host's loopback, as `mesh viz ...` expects it.
    // So is the dashboard, on 127.0.0.1 only: it shows the mesh's traffic.
    if (spec.name === 'viz') services[spec.name]!.ports = [`127.0.0.1:8085:${splitHostPort(addr, 'viz address').port}`, '127.0.0.1:8084:8084'];
  }
  // A Prometheus scraping every proxy, from the configuration `mesh viz prometheus-config` prints
  // (its targets come from the viz). The image reads its configuration from a file only, so the
  // entrypoint writes the generated text to one first: this file stays the one generated artefact.
  const viz = plan.controlPlane.find((s) => s.name === 'viz');
  if (viz) {
    services.prometheus = {
      image: prometheusImage,
      entrypoint: ['/bin/sh', '-c'],
      command: ['printf \'%s\' "$$PROMETHEUS_CONFIG" > /prometheus/prometheus.yml && exec /bin/prometheus --config.file=/prometheus/prometheus.yml --storage.tsdb.path=/prometheus --web.listen-address=0.0.0.0:9090'],
      environment: { PROMETHEUS_CONFIG: prometheusConfig({ vizAddr: viz.listens[0]!, scrapeIntervalSeconds: 5 }) },
      volumes: [],
      networks: onNetwork(prometheusIp),
      ports: ['127.0.0.1:9090:9090'],
      depends_on: after('viz'),
      restart: 'on-failure',
      init: true,
      // Prometheus' image has no node; it is busybox-based, so its wget asks Prometheus' own /-/ready.
      healthcheck: check(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:9090/-/ready']),
    };
  }
  // The front door, `mesh proxy --ingress`: a pod of one container, published on the host as a
  // LoadBalancer Service would be in a cluster.
  // Published on the host's loopback only: the demo is for this machine, not its network.
  services[plan.ingress.proxy.name] = withHealth(plan.ingress.proxy, {
    ...base(plan.ingress.proxy, true), networks: onNetwork(plan.ingress.ip), ports: ['127.0.0.1:8000:8000'],
    depends_on: after('mesh-init', 'identity', 'destination'), restart: 'on-failure',
  });
  for (const pod of plan.pods) {
    // A meshed pod's network namespace is its sidecar's: the sidecar starts first, and the app
    // joins it only once the proxy is ready, so the app's first call already has a proxy to go to.
    const intercepted = pod.sidecar !== undefined && plan.placement.interception === 'iptables';
    if (pod.sidecar) {
      services[pod.sidecar.name] = withHealth(pod.sidecar, {
        ...base(pod.sidecar, true), networks: onNetwork(pod.ip),
        ...(intercepted ? { extra_hosts: hosts, user: String(DEFAULT_PROXY_UID) } : {}),
        depends_on: after('mesh-init', 'identity', 'destination'), restart: 'on-failure',
      });
    }
    // Linkerd's init container: the rules go in before the app starts, and stay with the namespace.
    const w = plan.workloads.find((x) => x.name === pod.workload);
    const init = `${pod.name}-proxy-init`;
    if (intercepted) {
      services[init] = {
        image, init: true, network_mode: `service:${pod.sidecar!.name}`, cap_add: ['NET_ADMIN'], user: 'root',
        command: proxyInitCommand(controlPlane, w),
        volumes: [],
      };
    }
    const placed = pod.sidecar
      ? { network_mode: `service:${pod.sidecar.name}`, depends_on: after('mesh-init', ...(intercepted ? [init] : []), pod.sidecar.name) }
      // Outside the mesh (the traffic generator, a user's stand-in): it starts once the front door
      // and every meshed app are ready, so its first request already has somewhere to go.
      : { networks: onNetwork(pod.ip), depends_on: after('mesh-init', plan.ingress.proxy.name, ...plan.pods.filter((p) => p.sidecar && health(p.app)).map((p) => p.name)) };
    services[pod.name] = withHealth(pod.app, { ...base(pod.app, true), ...placed, restart: 'on-failure' });
  }
  return {
    version: '2.4',
    services,
    networks: { mesh: { ipam: { config: [{ subnet: composeSubnet }] } } },
    volumes: { [volume]: {} },
  };
}

export function composeYaml(plan: DemoPlan, serviceAddresses: ServiceAddress[]): string {
  return [
    '# Generated by `node bin/mesh.js demo compose` from examples/orders-checkout/workloads and the',
    '# runner\'s plan (examples/orders-checkout/runner/topology.ts): edit those, then regenerate.',
    '# Each pod is an app service plus a `<pod>-proxy` sidecar in the same network namespace, and a',
    '# one-shot `<pod>-proxy-init` that sends the app\'s TCP through the proxy (iptables, NET_ADMIN).',
    '# Run: docker compose up --build   then: curl -s -X POST localhost:8000/checkout -d \'{"item":"book","quantity":1}\'',
    stringify(composeFile(plan, serviceAddresses), { lineWidth: 0 }),
  ].join('\n');
}
