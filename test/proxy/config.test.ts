// The control-plane settings of `mesh proxy`: the names the injector and the demo runner set parse
// into the config, a bad value is refused naming the setting, `--ingress` is a switch, and the
// README's settings table says what the code reads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SETTINGS } from '../../proxy/config.ts';

const injected = {
  MESH_POD_IP: '127.0.29.90', MESH_POD_NAME: 'orders-1', MESH_POD_NAMESPACE: 'production', MESH_POD_DEPLOYMENT: 'orders-stable', MESH_SERVICE_ACCOUNT: 'orders',
  MESH_POD_LABELS: 'app=orders,track=stable', MESH_POD_PORTS: 'http:8080,9090',
  MESH_PROXY_INBOUND_DEFAULT_POLICY: 'all-authenticated', MESH_IDENTITY: 'spiffe://cluster.local/ns/production/sa/orders',
  MESH_IDENTITY_ADDR: 'identity.mesh-system.svc.cluster.local:8080', MESH_DESTINATION_ADDR: '127.0.0.1:8086',
  MESH_TRUST_ANCHORS: '/var/run/mesh/identity/trust-roots/ca-bundle.crt', MESH_TOKEN_FILE: '/var/run/secrets/tokens/mesh-identity-token',
};

describe('mesh proxy control-plane settings', () => {
  it('reads the environment the injector and the demo runner set', () => {
    const c = loadConfig([], injected);
    expect(c).toMatchObject({
      podIp: '127.0.29.90', podName: 'orders-1', podNamespace: 'production', podDeployment: 'orders-stable', serviceAccount: 'orders',
      podLabels: { app: 'orders', track: 'stable' }, podPorts: [{ name: 'http', port: 8080 }, { port: 9090 }],
      inboundDefaultPolicy: 'all-authenticated', identity: 'spiffe://cluster.local/ns/production/sa/orders',
      identityAddr: 'identity.mesh-system.svc.cluster.local:8080', destinationAddr: '127.0.0.1:8086',
      trustAnchorsFile: '/var/run/mesh/identity/trust-roots/ca-bundle.crt', tokenFile: '/var/run/secrets/tokens/mesh-identity-token',
      trustDomain: 'cluster.local', ingress: false,
    });
  });

  it('--ingress is a switch that takes no value; flags win over the environment', () => {
    const c = loadConfig(['--ingress', '--outbound-ip', '127.0.0.1', '--outbound-port', '8000', '--default-inbound-policy', 'deny'], injected);
    expect(c).toMatchObject({ ingress: true, outboundIp: '127.0.0.1', outboundPort: 8000, inboundDefaultPolicy: 'deny' });
    expect(loadConfig(['--ingress=false'], { MESH_PROXY_INGRESS: 'true' }).ingress).toBe(false);
    expect(loadConfig([], { MESH_PROXY_INGRESS: 'true' }).ingress).toBe(true);
  });

  it('writes an address setting bracketed when its host is IPv6, as a dial or a URL needs it', () => {
    // `$(MESH_POD_IP):8086` in an IPv6 pod: the kubelet substitutes the address without brackets.
    expect(loadConfig([], { MESH_DESTINATION_ADDR: 'fd00::5:8086' }).destinationAddr).toBe('[fd00::5]:8086');
    expect(loadConfig([], { MESH_IDENTITY_ADDR: '[fd00::5]:8080' }).identityAddr).toBe('[fd00::5]:8080');
    expect(loadConfig([], { MESH_DESTINATION_ADDR: 'destination.linkerd.svc.cluster.local:8086' }).destinationAddr).toBe('destination.linkerd.svc.cluster.local:8086');
  });

  it('reads a dual-stack pod\'s addresses (status.podIPs, comma-separated) as a list', () => {
    expect(loadConfig([], { MESH_POD_IP: '10.0.0.7', MESH_POD_IPS: '10.0.0.7,fd00::7' }).podIps).toEqual(['10.0.0.7', 'fd00::7']);
    expect(loadConfig(['--pod-ip', 'fd00::7', '--pod-ips', ' fd00::7 , 10.0.0.7 '], {}).podIps).toEqual(['fd00::7', '10.0.0.7']);
    expect(loadConfig([], { MESH_POD_IP: '10.0.0.7', MESH_POD_IPS: '10.0.0.7' }).podIps).toEqual(['10.0.0.7']);
    // Not the pod IP first, two of one family, or three: refused, as the destination would refuse the registration.
    for (const podIps of ['fd00::7,10.0.0.7', '10.0.0.7,10.0.0.8', '10.0.0.7,fd00::7,fd00::8', 'fd00::7']) {
      expect(() => loadConfig([], { MESH_POD_IP: '10.0.0.7', MESH_POD_IPS: podIps }), podIps).toThrow(
        `--pod-ips / MESH_POD_IPS is ${podIps}, but must list the pod IP (10.0.0.7) first and then at most one address of the other family, as status.podIPs does`,
      );
    }
    expect(loadConfig([], {}).podIps).toBeUndefined();
  });

  it('--transparent binds the outbound listener where iptables REDIRECT delivers, and refuses anywhere else', () => {
    expect(loadConfig(['--transparent', '--pod-ip', '10.0.0.5'], {}).outboundIp).toBe('127.0.0.1');
    expect(loadConfig(['--transparent', '--outbound-ip', '0.0.0.0'], {}).outboundIp).toBe('0.0.0.0');
    expect(() => loadConfig(['--transparent', '--outbound-ip', '10.0.0.5'], {})).toThrow(/--transparent needs the outbound listener on 127\.0\.0\.1.*is 10\.0\.0\.5/);
    expect(loadConfig(['--pod-ip', '10.0.0.5'], {}).outboundIp).toBeUndefined();
  });

  it.each([
    [{ MESH_PROXY_INBOUND_DEFAULT_POLICY: 'allow-all' }, /MESH_PROXY_INBOUND_DEFAULT_POLICY="allow-all" is not all-unauthenticated \| all-authenticated/],
    [{ MESH_POD_DEPLOYMENT: 'Orders Stable"}' }, /MESH_POD_DEPLOYMENT="Orders Stable"\}" is not a Kubernetes name/],
    [{ MESH_POD_LABELS: 'app' }, /MESH_POD_LABELS="app" is not k=v,k=v labels \("app" is not k=v\)/],
    [{ MESH_POD_PORTS: 'http:99999' }, /MESH_POD_PORTS="http:99999" is not name:port,port/],
    [{ MESH_IDENTITY_ADDR: 'nohost' }, /MESH_IDENTITY_ADDR="nohost" is not host:port \(no port\)/],
    [{ MESH_DESTINATION_ADDR: 'destination:99999' }, /MESH_DESTINATION_ADDR="destination:99999" is not host:port \(the port "99999" is not a number from 0 to 65535\)/],
    [{ MESH_DESTINATION_ADDR: 'destination:0' }, /MESH_DESTINATION_ADDR="destination:0" is not host:port \(port 0 names no port to dial\)/],
    [{ MESH_DESTINATION_ADDR: 'evil/x:8086' }, /MESH_DESTINATION_ADDR="evil\/x:8086" is not host:port \(the host "evil\/x" is neither an IP address nor a DNS name\)/],
    [{ MESH_IDENTITY: 'spiffe://x/orders' }, /MESH_IDENTITY=".*" is not a SPIFFE id/],
    [{ MESH_PROXY_CLUSTER_NETWORKS: '10.0.0.0/8,banana' }, /"banana" is not one/],
    [{ MESH_PROXY_CLUSTER_NETWORKS: '10.0.0.0/8, 10.0.0.0/33' }, 'MESH_PROXY_CLUSTER_NETWORKS="10.0.0.0/8, 10.0.0.0/33" is not a list of CIDRs ("10.0.0.0/33" is not one: "10.0.0.0/33": the prefix length of an IPv4 network is 0 to 32)'],
    [{ MESH_PROXY_CLUSTER_NETWORKS: '010.0.0.0/8' }, /"010.0.0.0\/8" is not one: "010.0.0.0\/8" is not an IPv4 or IPv6 address or CIDR/],
    [{ MESH_PROXY_CLUSTER_NETWORKS: '10.0.0.0/' }, /"10.0.0.0\/" is not one: "10.0.0.0\/" is not an IPv4 or IPv6 address or CIDR/],
    [{ MESH_POD_IPS: '10.0.0.7,fd00::7::1' }, /MESH_POD_IPS="10.0.0.7,fd00::7::1" is not a list of IP addresses \("fd00::7::1" is not one\)/],
    [{ MESH_POD_IPS: '010.0.0.7' }, /"010.0.0.7" is not one/],
    [{ MESH_POD_IPS: ',' }, /MESH_POD_IPS="," is not a list of IP addresses \(setting --pod-ips/],
    // An address Node would not read as one: out of range, octal-looking, too many colons, a name.
    [{ MESH_POD_IP: '999.1.1.1' }, 'MESH_POD_IP="999.1.1.1" is not an IPv4 or IPv6 address (setting --pod-ip / MESH_POD_IP)'],
    [{ MESH_POD_IP: '010.0.0.7' }, 'MESH_POD_IP="010.0.0.7" is not an IPv4 or IPv6 address'],
    [{ MESH_POD_IP: 'fd00::7::1' }, 'MESH_POD_IP="fd00::7::1" is not an IPv4 or IPv6 address'],
    [{ MESH_POD_IP: ':::' }, 'MESH_POD_IP=":::" is not an IPv4 or IPv6 address'],
    [{ MESH_PROXY_OUTBOUND_IP: '1.2.3.256' }, 'MESH_PROXY_OUTBOUND_IP="1.2.3.256" is not an IPv4 or IPv6 address (setting --outbound-ip / MESH_PROXY_OUTBOUND_IP)'],
  ])('refuses %j naming the setting', (env, message) => {
    expect(() => loadConfig([], env)).toThrow(ConfigError);
    expect(() => loadConfig([], env)).toThrow(message);
  });
});

describe('proxy/README.md settings table', () => {
  // The README's table explains each setting at more length than `--help`; this keeps the two in
  // step: the same flags, each with its environment variable and default.
  const readme = readFileSync(new URL('../../proxy/README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Settings'), readme.indexOf('\n## ', readme.indexOf('## Settings') + 1));
  const rows = new Map(
    [...section.matchAll(/^\| `(--[a-z0-9-]+)` \| `([A-Z0-9_]+)` \| ([^|]*) \|/gm)].map((m) => [m[1]!, { env: m[2]!, default: m[3]!.trim() }]),
  );

  it('lists every setting of proxy/config.ts, and no other', () => {
    expect([...rows.keys()].sort()).toEqual(SETTINGS.map((s) => s.flag).sort());
  });

  it('gives each flag its environment variable and its default', () => {
    for (const s of SETTINGS) {
      expect(rows.get(s.flag)?.env, s.flag).toBe(s.env);
      if (s.default) expect(rows.get(s.flag)?.default, s.flag).toBe(`\`${s.default}\``);
    }
  });
});
