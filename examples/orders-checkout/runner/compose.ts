// docker-compose.yml, generated from the same plan as the embedded runner: one image, the
// control plane, each pod as an app container plus a sidecar sharing its network namespace
// (`network_mode: service:<pod>-proxy`, as containers of a Kubernetes pod share one), fixed pod
// addresses on a private network, the CA state in a volume, the ingress proxy published on the
// host's 127.0.0.1:8000, a Prometheus scraping every proxy (from `mesh viz prometheus-config`) on
// 127.0.0.1:9090, and a healthcheck on every long-running service so that each starts only once
// what it calls is ready (an app after its proxy, as Linkerd's proxy-await does).
import { stringify } from 'yaml';
import { prometheusConfig } from '../../../viz/prometheus-config.ts';
import { composeSubnet, type DemoPlan, type ProcessSpec } from './topology.ts';

const image = 'mesh-demo:local';
/** Debian's prometheus package is 2.42 too: the version the viz's Prometheus mode is tested with. */
const prometheusImage = 'prom/prometheus:v2.42.0';
const prometheusIp = '172.28.0.13';
const volume = 'mesh-state';

interface ComposeService {
  image: string;
  entrypoint?: string[];
  build?: string;
  command: string[];
  environment?: Record<string, string>;
  volumes: string[];
  networks?: Record<string, { ipv4_address: string }>;
  network_mode?: string;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval: string; timeout: string; retries: number; start_period: string };
  restart?: string;
  init: boolean;
}

export function composeFile(plan: DemoPlan): Record<string, unknown> {
  const services: Record<string, ComposeService> = {};
  const base = (spec: ProcessSpec, readOnly: boolean): ComposeService => ({
    image,
    command: spec.command,
    ...(Object.keys(spec.env).length ? { environment: spec.env } : {}),
    volumes: [`${volume}:${plan.placement.stateDir}${readOnly ? ':ro' : ''}`],
    // tini as PID 1: signals reach node, and zombies are reaped.
    init: true,
  });
  const ipOf = (addr: string) => addr.slice(0, addr.lastIndexOf(':'));
  const onNetwork = (ip: string) => ({ mesh: { ipv4_address: ip } });
  // One-shots must have finished; everything else must say it is healthy.
  const after = (...names: string[]) => Object.fromEntries(names.map((n) => [n, { condition: n === 'mesh-init' ? 'service_completed_successfully' : 'service_healthy' }]));
  // Checked with the image's own node (no curl in node:20-slim): a proxy's admin /ready, or a TCP connect.
  const check = (script: string) => ({ test: ['CMD', 'node', '-e', script], interval: '2s', timeout: '2s', retries: 30, start_period: '2s' });
  const ready = (url: string) => check(`fetch(${JSON.stringify(url)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`);
  const listening = (addr: string) =>
    check(`require('net').connect(${addr.slice(addr.lastIndexOf(':') + 1)}, ${JSON.stringify(ipOf(addr))}).on('connect', () => process.exit(0)).on('error', () => process.exit(1))`);
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
    if (spec.name === 'viz') services[spec.name]!.ports = [`127.0.0.1:8085:${addr.slice(addr.lastIndexOf(':') + 1)}`, '127.0.0.1:8084:8084'];
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
      healthcheck: { ...check(''), test: ['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:9090/-/ready'] },
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
    if (pod.sidecar) {
      services[pod.sidecar.name] = withHealth(pod.sidecar, {
        ...base(pod.sidecar, true), networks: onNetwork(pod.ip),
        depends_on: after('mesh-init', 'identity', 'destination'), restart: 'on-failure',
      });
    }
    const placed = pod.sidecar
      ? { network_mode: `service:${pod.sidecar.name}`, depends_on: after('mesh-init', pod.sidecar.name) }
      : { networks: onNetwork(pod.ip), depends_on: after('mesh-init') };
    services[pod.name] = withHealth(pod.app, { ...base(pod.app, true), ...placed, restart: 'on-failure' });
  }
  return {
    version: '2.4',
    services,
    networks: { mesh: { ipam: { config: [{ subnet: composeSubnet }] } } },
    volumes: { [volume]: {} },
  };
}

export function composeYaml(plan: DemoPlan): string {
  return [
    '# Generated by `node bin/mesh.js demo compose` from examples/orders-checkout/workloads and the',
    '# runner\'s plan (examples/orders-checkout/runner/topology.ts): edit those, then regenerate.',
    '# Each pod is an app service plus a `<pod>-proxy` sidecar in the same network namespace.',
    '# Run: docker compose up --build   then: curl -s -X POST localhost:8000/checkout -d \'{"item":"book","quantity":1}\'',
    stringify(composeFile(plan), { lineWidth: 0 }),
  ].join('\n');
}
