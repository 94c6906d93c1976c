// The pure injection function: every workload kind, Lists, idempotence, skip reasons and overrides.
import { describe, expect, it } from 'vitest';
import { InjectorError } from '../../injector/errors.ts';
import { loadConfig } from '../../proxy/config.ts';
import { inject } from '../../injector/inject.ts';
import { defaultInjectOptions, meshVersion } from '../../injector/options.ts';
import { podSpec, templateOf, workload } from './workloads.ts';

const ENABLED = { 'linkerd.io/inject': 'enabled' };
const options = defaultInjectOptions();
const env = (container: any, name: string) => container.env.find((e: any) => e.name === name);

describe('inject: kinds', () => {
  for (const kind of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob']) {
    it(`adds the sidecar to a ${kind}`, () => {
      const input = workload(kind, ENABLED);
      const before = structuredClone(input);
      const { object, reports } = inject(input, options) as { object: any; reports: any[] };
      expect(input).toEqual(before); // the input is never modified
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ resource: `${kind.toLowerCase()}/${kind === 'Pod' ? 'orders-1' : 'orders'}`, injected: true });
      const t = templateOf(object);
      const [proxy, app] = t.spec.containers;
      expect(proxy.name).toBe('mesh-proxy');
      expect(proxy.image).toBe(`ghcr.io/mesh/mesh:${meshVersion()}`);
      expect(proxy.command).toEqual(['mesh', 'proxy']);
      expect(proxy.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
        ['mesh-outbound', 4140],
        ['mesh-inbound', 4143],
        ['mesh-admin', 4191],
        ['mesh-tap', 4190],
      ]);
      // The kubelet starts the app only once the proxy is ready (the await behaviour).
      expect(proxy.lifecycle.postStart.exec.command).toEqual(['mesh', 'proxy-await', '--timeout', '2m']);
      expect(env(proxy, 'MESH_POD_IP')).toEqual({ name: 'MESH_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
      expect(env(proxy, 'MESH_POD_NAMESPACE').valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
      expect(env(proxy, 'MESH_SERVICE_ACCOUNT').valueFrom.fieldRef.fieldPath).toBe('spec.serviceAccountName');
      expect(env(proxy, 'MESH_IDENTITY_ADDR').value).toBe('identity.mesh-system.svc.cluster.local:8080');
      expect(env(proxy, 'MESH_DESTINATION_ADDR').value).toBe('destination.mesh-system.svc.cluster.local:8086');
      expect(env(proxy, 'MESH_POD_PORTS').value).toBe('http:8080,9090');
      // The `deployment` label of the proxy's metrics: only a Deployment's pods have one.
      expect(env(proxy, 'MESH_POD_DEPLOYMENT')?.value).toBe(kind === 'Deployment' ? 'orders' : undefined);
      const labels = Object.fromEntries(env(proxy, 'MESH_POD_LABELS').value.split(',').map((kv: string) => kv.split('=')));
      expect(labels).toEqual(templateOf(object).metadata.labels);
      expect(labels).toMatchObject({ app: 'orders', 'linkerd.io/control-plane-ns': 'mesh-system' });
      expect(proxy.readinessProbe.httpGet).toEqual({ path: '/ready', port: 4191 });
      expect(proxy.livenessProbe.httpGet).toEqual({ path: '/live', port: 4191 });
      expect(proxy.resources.requests).toEqual({ cpu: '100m', memory: '64Mi' });
      // The app keeps its own settings and gains the variables that route it through the proxy.
      expect(app.name).toBe('orders');
      expect(app.env.map((e: any) => e.name)).toEqual(['POD_IP', 'HTTP_PROXY', 'http_proxy', 'grpc_proxy']);
      expect(env(app, 'HTTP_PROXY').value).toBe('http://$(POD_IP):4140');
      const token = t.spec.volumes.find((v: any) => v.name === 'mesh-identity-token');
      expect(token.projected.sources[0].serviceAccountToken.audience).toBe('identity.l5d.io');
      expect(t.spec.volumes.find((v: any) => v.name === 'mesh-identity-trust-roots').configMap.name).toBe('mesh-identity-trust-roots');
      expect(proxy.volumeMounts.map((m: any) => m.name).sort()).toEqual(t.spec.volumes.map((v: any) => v.name).sort());
      expect(t.metadata.annotations['linkerd.io/proxy-version']).toBe(meshVersion());
      expect(t.metadata.labels).toMatchObject({ app: 'orders', 'linkerd.io/workload-ns': 'production' });
    });
  }

  it('defines every $(VAR) a proxy variable uses before it', () => {
    const { object } = inject(workload('Deployment', ENABLED), options) as { object: any };
    const vars: any[] = templateOf(object).spec.containers[0].env;
    vars.forEach((v, i) => {
      for (const [, ref] of String(v.value ?? '').matchAll(/\$\(([A-Z_]+)\)/g)) {
        expect(vars.slice(0, i).map((e) => e.name), `${v.name} uses ${ref}`).toContain(ref);
      }
    });
  });

  it('writes an environment that `mesh proxy` loads (proxy/config.ts), as the kubelet would expand it', () => {
    const pod = workload('Pod', ENABLED, podSpec({ containers: [{ name: 'web', ports: [{ containerPort: 8080 }] }] }));
    const proxy = templateOf(inject(pod, options).object as any).spec.containers[0];
    const fields: Record<string, string> = { 'metadata.name': 'orders-1', 'metadata.namespace': 'production', 'status.podIP': '127.0.10.5', 'spec.serviceAccountName': 'orders' };
    const expanded: Record<string, string> = {};
    for (const e of proxy.env) {
      expanded[e.name] = e.valueFrom ? fields[e.valueFrom.fieldRef.fieldPath]! : e.value.replace(/\$\(([A-Z_]+)\)/g, (_: string, v: string) => expanded[v]!);
    }
    expect(loadConfig([], expanded)).toMatchObject({ podIp: '127.0.10.5', outboundPort: 4140, inboundPort: 4143, adminPort: 4191, defaultAppPort: 8080 });
    expect(expanded.MESH_IDENTITY).toBe('spiffe://cluster.local/ns/production/sa/orders');
    // With two app ports the proxy cannot guess which one a client outside the mesh meant.
    const twoPorts = templateOf(inject(workload('Pod', ENABLED), options).object as any).spec.containers[0];
    expect(env(twoPorts, 'MESH_PROXY_APP_PORT')).toBeUndefined();
  });

  it('injects each workload of a List and leaves other items alone', () => {
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'orders' }, spec: { ports: [{ port: 80 }] } };
    const list = { apiVersion: 'v1', kind: 'List', items: [service, workload('Deployment', ENABLED), workload('Pod', { 'linkerd.io/inject': 'disabled' })] };
    const { object, reports } = inject(list, options) as { object: any; reports: any[] };
    expect(object.items[0]).toEqual(service);
    expect(object.items[1].spec.template.spec.containers[0].name).toBe('mesh-proxy');
    expect(object.items[2]).toEqual(list.items[2]);
    expect(reports.map((r) => [r.resource, r.injected])).toEqual([
      ['deployment/orders', true],
      ['pod/orders-1', false],
    ]);
  });

  it('is idempotent: injecting an injected workload changes nothing', () => {
    const once = inject(workload('Deployment', ENABLED), options).object;
    const twice = inject(once, options);
    expect(twice.object).toEqual(once);
    expect(twice.reports[0]).toMatchObject({ injected: false, reason: 'already injected (container mesh-proxy)' });
  });
});

describe('inject: when it skips', () => {
  const skipped = (obj: unknown, opts = options) => {
    const { object, reports } = inject(obj, opts);
    expect(object).toBe(obj);
    expect(reports[0]!.injected).toBe(false);
    return reports[0]!.reason;
  };

  it('names the reason for each skip', () => {
    expect(skipped(workload('Deployment', { 'linkerd.io/inject': 'disabled' }))).toBe('annotation linkerd.io/inject=disabled');
    expect(skipped(workload('Deployment'))).toBe('neither the namespace production nor the pod template has linkerd.io/inject: enabled');
    expect(skipped(workload('Deployment', { 'linkerd.io/inject': 'yes' }))).toBe(
      'annotation linkerd.io/inject=yes is not one of enabled, ingress, disabled',
    );
    expect(skipped(workload('Pod', ENABLED, podSpec({ hostNetwork: true })))).toBe('hostNetwork is enabled');
    const linkerd = podSpec({ containers: [{ name: 'app' }, { name: 'linkerd-proxy' }] });
    expect(skipped(workload('Pod', ENABLED, linkerd))).toBe('already injected (container linkerd-proxy)');
    const taken = podSpec({ containers: [{ name: 'app', ports: [{ containerPort: 4191 }] }] });
    expect(skipped(workload('Pod', ENABLED, taken))).toBe("container app already uses port 4191, the proxy's admin port");
    const volume = podSpec({ volumes: [{ name: 'mesh-identity-token', emptyDir: {} }] });
    expect(skipped(workload('Pod', ENABLED, volume))).toBe('the pod already has a volume named mesh-identity-token');
  });

  it('follows the namespace annotation, and the pod template over it', () => {
    const ns = (annotations: Record<string, string>) => defaultInjectOptions({ namespaceAnnotations: (n) => (n === 'production' ? annotations : undefined) });
    expect(inject(workload('Deployment'), ns(ENABLED)).reports[0]!.injected).toBe(true);
    expect(skipped(workload('Deployment'), ns({ 'linkerd.io/inject': 'disabled' }))).toBe('namespace production annotation linkerd.io/inject=disabled');
    expect(skipped(workload('Deployment', { 'linkerd.io/inject': 'disabled' }), ns(ENABLED))).toBe('annotation linkerd.io/inject=disabled');
    expect(inject(workload('Deployment', ENABLED), ns({ 'linkerd.io/inject': 'disabled' })).reports[0]!.injected).toBe(true);
  });

  it('opts everything in when asked (mesh inject), but still honours disabled', () => {
    const cli = defaultInjectOptions({ assumeEnabled: true });
    expect(inject(workload('Deployment'), cli).reports[0]!.injected).toBe(true);
    expect(skipped(workload('Deployment', { 'linkerd.io/inject': 'disabled' }), cli)).toBe('annotation linkerd.io/inject=disabled');
  });

  it('passes through objects that are not workloads', () => {
    for (const obj of [null, 'text', { kind: 'Service' }, { kind: 'ConfigMap', data: {} }]) expect(inject(obj, options)).toEqual({ object: obj, reports: [] });
  });

  it('rejects malformed workloads naming the field', () => {
    const cases: Array<[unknown, string]> = [
      [{ kind: 'Deployment', metadata: { name: 'x' }, spec: {} }, 'deployment/x: spec.template: is required'],
      [{ kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } }, 'pod/p: spec.containers: must list at least one container'],
      [{ kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ image: 'x' }] } }, 'pod/p: spec.containers[0].name: is required'],
      [workload('Pod', ENABLED, podSpec({ containers: [{ name: 'a', ports: [{ containerPort: 70000 }] }] })), 'pod/orders-1: spec.containers[0].ports[0].containerPort: must be an integer from 1 to 65535, got 70000'],
      [workload('Deployment', { 'linkerd.io/inject': 5 as unknown as string }), 'deployment/orders: spec.template.metadata.annotations.linkerd.io/inject: must be a string, got 5'],
      [workload('Job', ENABLED, podSpec({ containers: [{ name: 'a', env: {} }] })), 'job/orders: spec.template.spec.containers[0].env: must be a list, got {}'],
    ];
    for (const [obj, message] of cases) {
      expect(() => inject(obj, options)).toThrow(new InjectorError('INVALID_WORKLOAD', message));
    }
  });
});

describe('inject: annotations and modes', () => {
  it('applies config.linkerd.io overrides, pod over namespace', () => {
    const opts = defaultInjectOptions({
      namespaceAnnotations: () => ({ 'config.linkerd.io/proxy-log-level': 'warn', 'config.linkerd.io/default-inbound-policy': 'deny' }),
    });
    const annotations = {
      ...ENABLED,
      'config.linkerd.io/proxy-log-level': 'debug',
      'config.linkerd.io/skip-outbound-ports': '25, 587,4000-4100',
      'config.linkerd.io/opaque-ports': '5432',
      'config.linkerd.io/proxy-memory-limit': '512Mi',
      'config.linkerd.io/proxy-cpu-limit': '1',
      'config.linkerd.io/proxy-image': 'registry.local/mesh',
      'config.linkerd.io/proxy-version': 'dev',
    };
    const { object, reports } = inject(workload('Deployment', annotations), opts) as { object: any; reports: any[] };
    const proxy = object.spec.template.spec.containers[0];
    expect(reports[0].warnings).toEqual([]);
    expect(env(proxy, 'MESH_LOG_LEVEL').value).toBe('debug');
    expect(env(proxy, 'MESH_PROXY_INBOUND_DEFAULT_POLICY').value).toBe('deny');
    expect(env(proxy, 'MESH_PROXY_SKIP_OUTBOUND_PORTS').value).toBe('25,587,4000-4100');
    expect(env(proxy, 'MESH_PROXY_OPAQUE_PORTS').value).toBe('5432');
    expect(env(proxy, 'MESH_PROXY_SKIP_INBOUND_PORTS')).toBeUndefined();
    expect(proxy.resources.limits).toEqual({ cpu: '1', memory: '512Mi' });
    expect(proxy.image).toBe('registry.local/mesh:dev');
    expect(object.spec.template.metadata.annotations['linkerd.io/proxy-version']).toBe('dev');
  });

  it('ignores bad override values with a warning naming the annotation, and still injects', () => {
    const annotations = {
      ...ENABLED,
      'config.linkerd.io/proxy-log-level': 'verbose',
      'config.linkerd.io/default-inbound-policy': 'allow-all',
      'config.linkerd.io/skip-inbound-ports': '80-20',
      'config.linkerd.io/proxy-memory-request': 'lots',
    };
    const { object, reports } = inject(workload('Pod', annotations), options) as { object: any; reports: any[] };
    expect(reports[0].injected).toBe(true);
    expect(reports[0].warnings).toEqual([
      'annotation config.linkerd.io/proxy-log-level="verbose" ignored: expected one of fatal, error, warn, info, debug, trace',
      'annotation config.linkerd.io/default-inbound-policy="allow-all" ignored: expected one of all-unauthenticated, all-authenticated, cluster-unauthenticated, cluster-authenticated, deny, audit',
      'annotation config.linkerd.io/skip-inbound-ports="80-20" ignored: expected a comma-separated list of ports or ranges such as 25,587,4000-4100',
      'annotation config.linkerd.io/proxy-memory-request="lots" ignored: expected a memory quantity such as 64Mi',
    ]);
    expect(env(object.spec.containers[0], 'MESH_LOG_LEVEL').value).toBe('info');
  });

  it('ingress mode tells the proxy so', () => {
    const { object } = inject(workload('Deployment', { 'linkerd.io/inject': 'ingress' }), options) as { object: any };
    expect(object.spec.template.spec.containers[0].command).toEqual(['mesh', 'proxy', '--ingress']);
    const plain = inject(workload('Deployment', ENABLED), options).object as any;
    expect(plain.spec.template.spec.containers[0].command).toEqual(['mesh', 'proxy']);
  });

  it('warns about Jobs, and puts a native sidecar among the init containers', () => {
    expect(inject(workload('Job', ENABLED), options).reports[0]!.warnings[0]).toMatch(/never completes/);
    const annotations = { ...ENABLED, 'config.alpha.linkerd.io/proxy-enable-native-sidecar': 'true' };
    const { object, reports } = inject(workload('Job', annotations, podSpec({ initContainers: [{ name: 'migrate' }] })), options) as any;
    expect(reports[0].warnings).toEqual([]);
    const spec = object.spec.template.spec;
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['mesh-proxy', 'migrate']);
    expect(spec.initContainers[0].restartPolicy).toBe('Always');
    expect(spec.containers.map((c: any) => c.name)).toEqual(['orders']);
    // Injected once, the native sidecar is recognised too.
    expect(inject(object, options).reports[0]!.reason).toBe('already injected (container mesh-proxy)');
  });

  it('proxy-wait-before-exit-seconds gives the proxy a preStop sleep (the alpha key, and the lesson\'s spelling without it); 0 gives none', () => {
    const hooksOf = (annotations: Record<string, string>, kind = 'Deployment') => {
      const { object, reports } = inject(workload(kind, { ...ENABLED, ...annotations }), options) as any;
      const spec = kind === 'Pod' ? object.spec : object.spec.template.spec;
      return { lifecycle: [...(spec.initContainers ?? []), ...spec.containers].find((c: any) => c.name === 'mesh-proxy').lifecycle, warnings: reports[0].warnings };
    };
    const awaitHook = { exec: { command: ['mesh', 'proxy-await', '--timeout', '2m'] } };
    expect(hooksOf({}).lifecycle).toEqual({ postStart: awaitHook });
    expect(hooksOf({ 'config.alpha.linkerd.io/proxy-wait-before-exit-seconds': '30' }).lifecycle).toEqual({ postStart: awaitHook, preStop: { exec: { command: ['/bin/sleep', '30'] } } });
    expect(hooksOf({ 'config.linkerd.io/proxy-wait-before-exit-seconds': '5' }).lifecycle.preStop).toEqual({ exec: { command: ['/bin/sleep', '5'] } });
    expect(hooksOf({ 'config.linkerd.io/proxy-wait-before-exit-seconds': '0' }).lifecycle).toEqual({ postStart: awaitHook });
    // A native sidecar has no postStart, and keeps the preStop.
    const native = hooksOf({ 'config.alpha.linkerd.io/proxy-enable-native-sidecar': 'true', 'config.alpha.linkerd.io/proxy-wait-before-exit-seconds': '10' }, 'Job');
    expect(native.lifecycle).toEqual({ preStop: { exec: { command: ['/bin/sleep', '10'] } } });
    const bad = hooksOf({ 'config.alpha.linkerd.io/proxy-wait-before-exit-seconds': '-1' });
    expect(bad.lifecycle).toEqual({ postStart: awaitHook });
    expect(bad.warnings).toEqual(['annotation config.alpha.linkerd.io/proxy-wait-before-exit-seconds="-1" ignored: expected a whole number of seconds such as 0 or 30']);
    expect(hooksOf({ 'config.alpha.linkerd.io/proxy-wait-before-exit-seconds': '29' }).warnings).toEqual([]);
  });

  it('proxy-wait-before-exit-seconds on the pod wins over the namespace\'s, whichever spelling each uses', () => {
    const preStopOf = (namespace: Record<string, string>, pod: Record<string, string>) => {
      const nsOptions = defaultInjectOptions({ namespaceAnnotations: () => namespace });
      const { object } = inject(workload('Deployment', { ...ENABLED, ...pod }), nsOptions) as any;
      return object.spec.template.spec.containers.find((c: any) => c.name === 'mesh-proxy').lifecycle.preStop;
    };
    const alpha = 'config.alpha.linkerd.io/proxy-wait-before-exit-seconds';
    const lesson = 'config.linkerd.io/proxy-wait-before-exit-seconds';
    expect(preStopOf({ [alpha]: '20' }, { [lesson]: '5' })).toEqual({ exec: { command: ['/bin/sleep', '5'] } });
    expect(preStopOf({ [lesson]: '20' }, { [alpha]: '5' })).toEqual({ exec: { command: ['/bin/sleep', '5'] } });
    expect(preStopOf({ [alpha]: '20' }, { [lesson]: '0' })).toBeUndefined();
    expect(preStopOf({ [lesson]: '20' }, {})).toEqual({ exec: { command: ['/bin/sleep', '20'] } });
  });

  it('warns when proxy-wait-before-exit-seconds uses up the pod\'s grace period (30 s unless the pod says)', () => {
    const warningsOf = (seconds: string, grace?: number) => {
      const object = workload('Deployment', { ...ENABLED, 'config.alpha.linkerd.io/proxy-wait-before-exit-seconds': seconds }) as any;
      if (grace !== undefined) object.spec.template.spec.terminationGracePeriodSeconds = grace;
      return inject(object, options).reports[0]!.warnings;
    };
    expect(warningsOf('30')).toEqual([
      "proxy-wait-before-exit-seconds 30 is not less than the pod's terminationGracePeriodSeconds (30): the kubelet kills the proxy when the grace period ends, before it drains; raise terminationGracePeriodSeconds",
    ]);
    expect(warningsOf('30', 60)).toEqual([]);
    expect(warningsOf('10', 5)).toHaveLength(1);
  });

  it("replaces an app's own HTTP_PROXY with a warning, keeps an identical POD_IP in place", () => {
    const app = {
      name: 'web',
      env: [
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'HTTP_PROXY', value: 'http://corp-proxy:3128' },
        { name: 'LOG', value: 'debug' },
      ],
    };
    const { object, reports } = inject(workload('Pod', ENABLED, podSpec({ containers: [app] })), options) as any;
    expect(object.spec.containers[1].env.map((e: any) => e.name)).toEqual(['POD_IP', 'LOG', 'HTTP_PROXY', 'http_proxy', 'grpc_proxy']);
    expect(reports[0].warnings).toEqual(['container web: HTTP_PROXY was "http://corp-proxy:3128"; replaced so its traffic goes through the proxy']);
  });
});

describe('inject: in a cluster (proxy-init, anchors inline, the owning Deployment)', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
  const cluster = defaultInjectOptions({ capture: 'iptables', trustAnchorsPem: PEM });

  it('in a cluster of IPv6 or dual-stack pods, proxy-init writes its rules for ip6tables too', () => {
    for (const podIpFamily of ['IPv6', 'IPv4,IPv6', 'IPv6,IPv4'] as const) {
      const { object } = inject(workload('Pod', ENABLED), { ...cluster, podIpFamily }) as any;
      expect(object.spec.initContainers[0].command, podIpFamily).toEqual(['mesh', 'proxy-init', '--inbound-port', '4143', '--outbound-port', '4140', '--proxy-uid', '2102', '--ipv6']);
    }
    expect(inject(workload('Pod', ENABLED), cluster).object).toMatchObject({ spec: { initContainers: [{ command: expect.not.arrayContaining(['--ipv6']) }] } });
  });

  it('passes skip-subnets (Linkerd\'s annotation) to proxy-init as the sources it skips, an IPv6 one only where pods have IPv6', () => {
    const annotations = { ...ENABLED, 'config.linkerd.io/skip-subnets': '10.244.0.0/16, FD00:10:244::/56' };
    const initArgs = (podIpFamily: 'IPv4' | 'IPv4,IPv6') => {
      const { object, reports } = inject(workload('Pod', annotations), { ...cluster, podIpFamily }) as any;
      const command: string[] = object.spec.initContainers[0].command;
      return { from: command.includes('--skip-inbound-from') ? command[command.indexOf('--skip-inbound-from') + 1] : undefined, warnings: reports[0].warnings };
    };
    expect(initArgs('IPv4,IPv6')).toEqual({ from: '10.244.0.0/16,fd00:10:244::/56', warnings: [] });
    expect(initArgs('IPv4')).toEqual({
      from: '10.244.0.0/16',
      warnings: ['annotation config.linkerd.io/skip-subnets: fd00:10:244::/56 ignored: the pods have no IPv6 address (pod IP family IPv4), so proxy-init writes no ip6tables rules'],
    });
    const bad = inject(workload('Pod', { ...ENABLED, 'config.linkerd.io/skip-subnets': '10.244.0.0/16,010.0.0.0/8' }), cluster) as any;
    expect(bad.reports[0].warnings).toEqual([
      'annotation config.linkerd.io/skip-subnets="10.244.0.0/16,010.0.0.0/8" ignored: expected a comma-separated list of CIDRs such as 10.244.0.0/16,fd00:10:244::/56',
    ]);
    expect(bad.object.spec.initContainers[0].command).not.toContain('--skip-inbound-from');
  });

  it('gives a dual-stack pod\'s proxy both addresses (status.podIPs), which it loads; a single-stack one only its pod IP', () => {
    const fields: Record<string, string> = { 'metadata.name': 'orders-1', 'metadata.namespace': 'production', 'spec.serviceAccountName': 'orders' };
    // The kubelet's expansion, with the addresses a dual-stack pod gets (status.podIPs is comma-separated, primary first).
    const expand = (proxy: any, podIP: string, podIPs: string) => {
      const expanded: Record<string, string> = {};
      const values: Record<string, string> = { ...fields, 'status.podIP': podIP, 'status.podIPs': podIPs };
      for (const e of proxy.env) expanded[e.name] = e.valueFrom ? values[e.valueFrom.fieldRef.fieldPath]! : e.value.replace(/\$\(([A-Z_]+)\)/g, (_: string, v: string) => expanded[v]!);
      return expanded;
    };
    for (const [podIpFamily, podIP, podIPs] of [['IPv4,IPv6', '10.0.0.7', '10.0.0.7,fd00::7'], ['IPv6,IPv4', 'fd00::7', 'fd00::7,10.0.0.7']] as const) {
      const proxy = (inject(workload('Pod', ENABLED), { ...cluster, podIpFamily }).object as any).spec.containers[0];
      expect(env(proxy, 'MESH_POD_IPS'), podIpFamily).toEqual({ name: 'MESH_POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } });
      expect(loadConfig([], expand(proxy, podIP, podIPs))).toMatchObject({ podIp: podIP, podIps: podIPs.split(','), transparent: true });
    }
    for (const podIpFamily of ['IPv4', 'IPv6'] as const) {
      expect(env((inject(workload('Pod', ENABLED), { ...cluster, podIpFamily }).object as any).spec.containers[0], 'MESH_POD_IPS'), podIpFamily).toBeUndefined();
    }
  });

  it('adds proxy-init first, makes the proxy transparent, and leaves the apps\' environment alone', () => {
    const annotations = { ...ENABLED, 'config.linkerd.io/skip-outbound-ports': '25,3306' };
    const { object } = inject(workload('Pod', annotations, podSpec({ initContainers: [{ name: 'migrate' }] })), cluster) as any;
    const [init, migrate] = object.spec.initContainers;
    expect([init.name, migrate.name]).toEqual(['mesh-init', 'migrate']);
    expect(init.command).toEqual(['mesh', 'proxy-init', '--inbound-port', '4143', '--outbound-port', '4140', '--proxy-uid', '2102', '--skip-outbound-ports', '25,3306']);
    expect(init.securityContext.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    const [proxy, app] = object.spec.containers;
    expect(proxy.securityContext.runAsUser).toBe(2102); // the UID proxy-init lets through
    expect(env(proxy, 'MESH_PROXY_TRANSPARENT').value).toBe('true');
    expect(env(proxy, 'MESH_PROXY_OUTBOUND_IP').value).toBe('127.0.0.1');
    expect(app.env).toBeUndefined();
  });

  it('puts the anchors in the proxy\'s environment instead of a ConfigMap volume of the pod\'s namespace, and the proxy loads them', () => {
    const { object } = inject(workload('Pod', ENABLED), cluster) as any;
    const proxy = object.spec.containers[0];
    expect(env(proxy, 'MESH_TRUST_ANCHORS_PEM').value).toBe(PEM);
    expect(env(proxy, 'MESH_TRUST_ANCHORS')).toBeUndefined();
    expect(object.spec.volumes.map((v: any) => v.name)).toEqual(['mesh-identity-token']);
    expect(proxy.volumeMounts.map((m: any) => m.name)).toEqual(['mesh-identity-token']);
    const vars = Object.fromEntries(proxy.env.filter((e: any) => e.value !== undefined && !e.value.includes('$(')).map((e: any) => [e.name, e.value]));
    const config = loadConfig([], { ...vars, MESH_POD_IP: '10.0.0.7', MESH_POD_NAMESPACE: 'production', MESH_SERVICE_ACCOUNT: 'orders', MESH_POD_NAME: 'orders-1' });
    expect(config.trustAnchorsPem?.trim()).toBe(PEM.trim());
    expect(config.transparent).toBe(true);
  });

  it('a native sidecar (a server that has them) goes after proxy-init and is awaited by its startup probe', () => {
    const native = defaultInjectOptions({ capture: 'iptables', trustAnchorsPem: PEM });
    native.proxy.nativeSidecar = true;
    const { object } = inject(workload('Pod', ENABLED), native) as any;
    expect(object.spec.initContainers.map((c: any) => c.name)).toEqual(['mesh-init', 'mesh-proxy']);
    const proxy = object.spec.initContainers[1];
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.startupProbe.httpGet).toEqual({ path: '/ready', port: 4191 });
    expect(proxy.lifecycle).toBeUndefined();
  });

  it('names a ReplicaSet\'s pod\'s Deployment (the deployment label of its metrics), and nothing for a bare pod', () => {
    const pod = workload('Pod', ENABLED);
    pod.metadata.labels['pod-template-hash'] = '5d8f7c9b4';
    pod.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-stable-5d8f7c9b4', controller: true, uid: 'u' }];
    const { object } = inject(pod, cluster) as any;
    expect(object.metadata.labels['linkerd.io/proxy-deployment']).toBe('orders-stable');
    expect(env(object.spec.containers[0], 'MESH_POD_DEPLOYMENT').value).toBe('orders-stable');
    pod.metadata.ownerReferences[0].name = 'someone-else';
    expect((inject(pod, cluster).object as any).metadata.labels['linkerd.io/proxy-deployment']).toBeUndefined();
  });
});
