// docker-compose.yml: valid for docker-compose, current with the plan it is generated from, and
// in agreement with what the embedded runner starts (same processes, commands and settings).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readWorkloads } from '../../../examples/orders-checkout/runner/deployments.ts';
import { composePlacement, localPlacement, planDemo } from '../../../examples/orders-checkout/runner/topology.ts';
import { allProcesses } from '../../../examples/orders-checkout/runner/run-demo.ts';
import { generatedCompose } from '../../../cli/commands/demo-compose.ts';
import { splitHostPort } from '../../../api/host-port.ts';

const root = join(import.meta.dirname, '../../..');
const file = join(root, 'docker-compose.yml');
const manifests = 'examples/orders-checkout/manifests';

describe('docker-compose.yml', () => {
  it('passes `docker-compose config`', () => {
    const out = execFileSync('docker-compose', ['-f', file, 'config'], { cwd: root, encoding: 'utf8' });
    const resolved = parse(out);
    // Published on the host's loopback only (docker-compose prints a port with a host address as text).
    const published = (p: string | { host_ip?: string; published: number; target: number }) => (typeof p === 'string' ? p : `${p.host_ip}:${p.published}:${p.target}/tcp`);
    expect(published(resolved.services.ingress.ports[0])).toBe('127.0.0.1:8000:8000/tcp');
    expect(published(resolved.services.prometheus.ports[0])).toBe('127.0.0.1:9090:9090/tcp');
    expect(published(resolved.services.viz.ports[0])).toBe('127.0.0.1:8085:8085/tcp');
    // The pod's network namespace is its sidecar's; the app joins it once the proxy says it is ready.
    expect(resolved.services['checkout-0'].network_mode).toBe('service:checkout-0-proxy');
    expect(resolved.services['checkout-0'].depends_on['checkout-0-proxy']).toEqual({ condition: 'service_healthy' });
    expect(resolved.services['checkout-0-proxy'].healthcheck.test).toEqual(['CMD', 'curl', '-sf', '-o', '/dev/null', 'http://172.28.10.2:4191/ready']);
    // Every long-running service says when it is healthy; the one-shots do not need to.
    const unchecked = Object.entries(resolved.services as Record<string, { healthcheck?: unknown }>).filter(([, svc]) => !svc.healthcheck).map(([name]) => name);
    expect(unchecked.filter((n) => !n.endsWith('-proxy-init')).sort()).toEqual(['mesh-init', 'traffic-0']); // traffic-0 listens on nothing: a client only
    // Intercepted as in a cluster: a one-shot proxy-init with NET_ADMIN in the pod's namespace runs
    // before the app, the proxy runs as its own user, and no app is told where its proxy is.
    const init = resolved.services['checkout-0-proxy-init'];
    expect(init.network_mode).toBe('service:checkout-0-proxy');
    expect(init.cap_add).toEqual(['NET_ADMIN']);
    expect(init.command).toEqual(['node', 'bin/mesh.js', 'proxy-init', '--proxy-uid', '2102', '--control-plane', '172.28.0.10:8080,172.28.0.11:8086']);
    expect(resolved.services['checkout-0'].depends_on['checkout-0-proxy-init']).toEqual({ condition: 'service_completed_successfully' });
    expect(String(resolved.services['checkout-0-proxy'].user)).toBe('2102');
    expect(resolved.services['checkout-0-proxy'].environment).toMatchObject({ MESH_PROXY_TRANSPARENT: 'true', MESH_PROXY_OUTBOUND_IP: '127.0.0.1' });
    for (const [name, svc] of Object.entries(resolved.services as Record<string, { environment?: Record<string, string> }>)) {
      expect(Object.keys(svc.environment ?? {}).filter((k) => /^(https?_proxy|grpc_proxy|no_proxy|no_grpc_proxy)$/i.test(k)), name).toEqual([]);
    }
    // Plain Service names resolve to clusterIPs in every meshed pod, as a cluster's DNS gives them.
    expect(resolved.services['orders-stable-0-proxy'].extra_hosts).toContain('payments.production.svc.cluster.local:10.96.0.14');
    // The traffic generator starts once the front door and the meshed apps are ready.
    expect(Object.keys(resolved.services['traffic-0'].depends_on).sort()).toEqual(['checkout-0', 'ingress', 'mesh-init', 'orders-canary-0', 'orders-stable-0', 'orders-stable-1', 'payments-0', 'rogue-0']);
    // The front door is one container, the proxy in ingress mode, on the ingress pod's address.
    expect(resolved.services.ingress.command).toEqual(['node', 'bin/mesh.js', 'proxy', '--ingress']);
    expect(resolved.services.ingress.networks.mesh.ipv4_address).toBe('172.28.10.1');
    expect(resolved.services['ingress-proxy']).toBeUndefined();
    // Prometheus scrapes what `mesh viz prometheus-config` says, with targets from the viz.
    expect(resolved.services.prometheus.environment.PROMETHEUS_CONFIG).toContain('http://172.28.0.12:8085/api/v1/prometheus-targets');
    expect(resolved.services.prometheus.command[0]).toContain('$PROMETHEUS_CONFIG');
  });

  it('is what `mesh demo compose` generates from the workloads today', () => {
    expect(readFileSync(file, 'utf8')).toBe(generatedCompose());
  });

  it('runs the same processes, commands and settings as the embedded runner', () => {
    const workloads = readWorkloads(join(root, 'examples/orders-checkout/workloads'));
    const local = planDemo(workloads, localPlacement('/state', root, ''), manifests);
    const compose = planDemo(workloads, composePlacement(), manifests);
    // Compose's destination serves the manifests `demo prepare` gives clusterIPs, in the state volume.
    const composeManifests = '/state/manifests';
    const services = parse(readFileSync(file, 'utf8')).services as Record<string, { command: string[]; environment?: Record<string, string>; network_mode?: string; networks?: any }>;
    // Every address maps one to one between the two placements; paths of the state folder too.
    const mapping = new Map<string, string>([['/state', '/state']]);
    const pods = [[local.ingress, compose.ingress], ...local.pods.map((p, i) => [p, compose.pods[i]!])] as const;
    for (const [l, c] of pods) mapping.set(l.ip, c.ip);
    mapping.set(local.placement.identityAddr, compose.placement.identityAddr);
    mapping.set(local.placement.destinationAddr, compose.placement.destinationAddr);
    mapping.set(local.placement.vizAddr, compose.placement.vizAddr);
    mapping.set(local.placement.ingressUrl, compose.placement.ingressUrl);
    mapping.set(local.placement.ingressListen, compose.placement.ingressListen);
    // The ingress proxy's outbound listener address is a setting of its own (the port stays 8000).
    const hostOf = (listen: string) => splitHostPort(listen, 'the ingress listen address').host;
    mapping.set(hostOf(local.placement.ingressListen), hostOf(compose.placement.ingressListen));
    mapping.set(manifests, composeManifests);
    const translate = (v: string) => [...mapping.entries()].sort((a, b) => b[0].length - a[0].length).reduce((s, [from, to]) => s.split(from).join(to), v);

    const processes = allProcesses(local);
    expect(Object.keys(services).filter((n) => n !== 'mesh-init' && n !== 'prometheus' && !n.endsWith('-proxy-init')).sort()).toEqual(processes.map((p) => p.name).sort());
    // What differs is how apps reach their proxies: told by HTTP_PROXY and grpc_proxy on one machine,
    // redirected by iptables in compose (and the proxy then reads each connection's original destination).
    const told = new Set(['HTTP_PROXY', 'http_proxy', 'grpc_proxy', 'NO_PROXY', 'no_grpc_proxy']);
    for (const p of processes) {
      const svc = services[p.name]!;
      expect(svc.command, p.name).toEqual(p.command.map(translate));
      if (p.role === 'sidecar') expect(svc.environment, p.name).toMatchObject({ MESH_PROXY_TRANSPARENT: 'true', MESH_PROXY_OUTBOUND_IP: '127.0.0.1' });
      const interception = new Set(p.role === 'sidecar' ? ['MESH_PROXY_TRANSPARENT', 'MESH_PROXY_OUTBOUND_IP'] : []);
      const composeEnv = Object.fromEntries(Object.entries(svc.environment ?? {}).filter(([k]) => !interception.has(k)));
      // Only the runner is a kubelet: there the sidecar also reads the pod's Ready condition from a file.
      const env = Object.entries(p.env).filter(([k]) => k !== 'MESH_POD_READY_FILE' && !told.has(k));
      expect(Object.keys(composeEnv).sort(), p.name).toEqual(env.map(([k]) => k).sort());
      for (const [k, v] of env) expect(composeEnv[k], `${p.name} ${k}`).toBe(translate(v));
    }
    // A meshed pod's address is its sidecar's, and its app shares the sidecar's network namespace.
    for (const pod of local.pods) {
      if (pod.sidecar) {
        expect(services[pod.sidecar.name]!.networks.mesh.ipv4_address).toBe(mapping.get(pod.ip));
        expect(services[pod.name]!.network_mode).toBe(`service:${pod.sidecar.name}`);
      } else {
        expect(services[pod.name]!.networks.mesh.ipv4_address).toBe(mapping.get(pod.ip));
      }
    }
  });
});
