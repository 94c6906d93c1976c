// `mesh inject` as a real process: multi-document YAML in, injected YAML out, a summary line per workload.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { runMesh } from './run-mesh.ts';

const dir = mkdtempSync(join(tmpdir(), 'mesh-inject-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const APP = `# the checkout app
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
  annotations:
    linkerd.io/inject: disabled
---
apiVersion: v1
kind: Service
metadata:
  name: checkout # kept with its comment
spec:
  selector: { app: checkout }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: production
spec:
  selector: { matchLabels: { app: checkout } }
  template:
    metadata:
      labels: { app: checkout }
    spec:
      containers:
        - name: checkout
          image: checkout:1
          ports: [{ containerPort: 8080 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: ledger, namespace: legacy }
spec:
  template:
    spec:
      containers: [{ name: ledger, image: ledger:1 }]
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: production
  annotations: { linkerd.io/inject: disabled }
spec:
  containers: [{ name: shell, image: busybox }]
`;

const docsOf = (yaml: string) => parseAllDocuments(yaml).map((d) => (Array.isArray(d) ? d : d.toJS()));

describe('mesh inject', () => {
  it('injects the workloads of a file, leaves the rest, and says what it did', async () => {
    const { code, stdout, stderr } = await runMesh(['inject', file('app.yaml', APP)]);
    expect(code).toBe(0);
    expect(stderr.trim().split('\n')).toEqual([
      'deployment/checkout injected',
      'statefulset/ledger skipped: namespace legacy annotation linkerd.io/inject=disabled',
      'pod/debug skipped: annotation linkerd.io/inject=disabled',
    ]);
    const docs = docsOf(stdout);
    const input = docsOf(APP);
    expect(docs).toHaveLength(5);
    expect(docs.map((d: any) => d.kind)).toEqual(['Namespace', 'Service', 'Deployment', 'StatefulSet', 'Pod']);
    expect(stdout).toContain('name: checkout # kept with its comment');
    expect([docs[0], docs[1], docs[3], docs[4]]).toEqual([input[0], input[1], input[3], input[4]]);
    const containers = docs[2].spec.template.spec.containers;
    expect(containers.map((c: any) => c.name)).toEqual(['mesh-proxy', 'checkout']);
  });

  it('reads stdin, and is idempotent on its own output', async () => {
    const once = await runMesh(['inject', '-'], APP);
    const twice = await runMesh(['inject', '-'], once.stdout);
    expect(twice.code).toBe(0);
    expect(docsOf(twice.stdout)).toEqual(docsOf(once.stdout));
    expect(twice.stderr).toContain('deployment/checkout skipped: already injected (container mesh-proxy)');
  });

  it('prints warnings for ignored overrides', async () => {
    const pod = 'kind: Pod\napiVersion: v1\nmetadata:\n  name: p\n  annotations:\n    config.linkerd.io/proxy-log-level: loud\nspec:\n  containers: [{name: a}]\n';
    const { code, stderr } = await runMesh(['inject', '-'], pod);
    expect(code).toBe(0);
    expect(stderr.trim().split('\n')).toEqual([
      'pod/p injected',
      'pod/p warning: annotation config.linkerd.io/proxy-log-level="loud" ignored: expected one of fatal, error, warn, info, debug, trace',
    ]);
  });

  it('--pod-ip-family: an IPv6 POD_IP is bracketed in HTTP_PROXY, and any IPv6 gives proxy-init --ipv6', async () => {
    const path = file('families.yaml', APP);
    const checkout = (stdout: string) => docsOf(stdout).find((d: any) => d.kind === 'Deployment').spec.template.spec;
    const appEnv = (spec: any, name: string) => spec.containers[1].env?.find((e: any) => e.name === name)?.value;
    // What each family gives, read from the real command's YAML: HTTP_PROXY under the default capture,
    // and proxy-init's arguments under --capture iptables.
    const expected: Array<[string, string, boolean]> = [
      ['IPv4', 'http://$(POD_IP):4140', false],
      ['IPv6', 'http://[$(POD_IP)]:4140', true],
      ['IPv4,IPv6', 'http://$(POD_IP):4140', true],
      ['IPv6,IPv4', 'http://[$(POD_IP)]:4140', true],
    ];
    for (const [family, httpProxy, ipv6Rules] of expected) {
      const proxied = await runMesh(['inject', path, '--pod-ip-family', family]);
      expect(proxied.code, proxied.stderr).toBe(0);
      expect(appEnv(checkout(proxied.stdout), 'HTTP_PROXY'), family).toBe(httpProxy);

      const captured = await runMesh(['inject', path, '--capture', 'iptables', '--pod-ip-family', family]);
      expect(captured.code, captured.stderr).toBe(0);
      const spec = checkout(captured.stdout);
      expect(spec.initContainers[0].name).toBe('mesh-init');
      expect(spec.initContainers[0].command.includes('--ipv6'), family).toBe(ipv6Rules);
      // A dual-stack pod's proxy gets both addresses, to listen on both and announce both.
      const podIps = spec.containers[0].env.find((e: any) => e.name === 'MESH_POD_IPS');
      expect(podIps, family).toEqual(family.includes(',') ? { name: 'MESH_POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } } : undefined);
      expect(appEnv(spec, 'HTTP_PROXY'), 'iptables capture leaves the app alone').toBeUndefined();
    }
    // Without the flag: IPv4, and HTTP_PROXY as before.
    const plain = await runMesh(['inject', path]);
    expect(appEnv(checkout(plain.stdout), 'HTTP_PROXY')).toBe('http://$(POD_IP):4140');
  });

  it('--capture iptables: the proxy-init it writes (skip-subnets of both families, dual-stack) is one `mesh proxy-init` accepts', async () => {
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  annotations: { config.linkerd.io/skip-subnets: "10.244.0.0/16,fd00:10:244::/56" }\nspec: {containers: [{name: web, image: nginx}]}\n';
    const injected = await runMesh(['inject', '-', '--capture', 'iptables', '--pod-ip-family', 'IPv4,IPv6'], pod);
    expect(injected.code, injected.stderr).toBe(0);
    const command: string[] = docsOf(injected.stdout)[0].spec.initContainers[0].command;
    expect(command.slice(0, 2)).toEqual(['mesh', 'proxy-init']);
    // The very arguments, given to the real command: its dry run prints each source in its family's rules.
    const dryRun = await runMesh(['proxy-init', ...command.slice(2), '--dry-run']);
    expect(dryRun.code, dryRun.stderr).toBe(0);
    const [v4, v6] = dryRun.stdout.split('# ip6tables\n') as [string, string];
    expect(v4).toContain('-A PROXY_INIT_REDIRECT -s 10.244.0.0/16 -p tcp -j RETURN');
    expect(v6).toContain('-A PROXY_INIT_REDIRECT -s fd00:10:244::/56 -p tcp -j RETURN');
    expect(v4).not.toContain('fd00:');
    expect(v6).not.toContain('10.244.');
  });

  it('refuses a bad --pod-ip-family or --capture before reading anything, naming the flag and what it takes', async () => {
    const path = file('unread.yaml', APP);
    for (const family of ['ipv6', 'IPv5', 'IPv4, IPv6', 'IPv4,IPv4', 'dual']) {
      const bad = await runMesh(['inject', path, '--pod-ip-family', family]);
      expect([bad.code, bad.stdout], family).toEqual([2, '']);
      expect(bad.stderr.split('\n')[0]).toBe(
        `mesh inject: --pod-ip-family must be IPv4, IPv6, IPv4,IPv6 (dual-stack, IPv4 primary) or IPv6,IPv4 (dual-stack, IPv6 primary), got "${family}"`,
      );
      expect(bad.stderr).toContain('usage: mesh inject');
    }
    const badCapture = await runMesh(['inject', path, '--capture', 'ebpf']);
    expect([badCapture.code, badCapture.stdout, badCapture.stderr.split('\n')[0]]).toEqual([2, '', 'mesh inject: --capture must be http-proxy or iptables, got "ebpf"']);
    const noValue = await runMesh(['inject', path, '--pod-ip-family']);
    expect([noValue.code, noValue.stderr.split('\n')[0]]).toEqual([2, 'mesh inject: option --pod-ip-family needs a value']);
  });

  it('fails without output on bad input, naming where', async () => {
    const badYaml = await runMesh(['inject', file('bad.yaml', 'kind: Pod\n---\nkind: Pod\nmetadata: {name: x\n')]);
    expect(badYaml.code).toBe(1);
    expect(badYaml.stdout).toBe('');
    expect(badYaml.stderr).toMatch(/^mesh inject: .*bad\.yaml: document 2, line \d+: /);

    // Well-formed YAML that cannot become a value: an alias used before its anchor.
    const earlyAlias = await runMesh(['inject', file('alias.yaml', 'kind: Pod\nmetadata: {name: *n, namespace: &n x}\n')]);
    expect([earlyAlias.code, earlyAlias.stdout]).toEqual([1, '']);
    expect(earlyAlias.stderr.trim()).toMatch(/^mesh inject: .*alias\.yaml: document 1: Unresolved alias .*: n$/);

    const badWorkload = await runMesh(['inject', '-'], 'kind: Deployment\nmetadata: {name: w}\nspec: {template: {spec: {containers: [{name: a, ports: [{containerPort: "http"}]}]}}}\n');
    expect([badWorkload.code, badWorkload.stdout]).toEqual([1, '']);
    expect(badWorkload.stderr.trim()).toBe('mesh inject: deployment/w: spec.template.spec.containers[0].ports[0].containerPort: must be an integer, got "http"');

    const missing = await runMesh(['inject', join(dir, 'nope.yaml')]);
    expect([missing.code, missing.stderr.trim()]).toEqual([1, `mesh inject: ENOENT: no such file or directory, stat '${join(dir, 'nope.yaml')}'`]);
    // Any file-system refusal is said as the system says it, not as a stack-less `Error: ...`.
    const notFolder = await runMesh(['inject', `${file('plain.yaml', APP)}/`]);
    expect([notFolder.code, notFolder.stderr.trim()]).toEqual([1, `mesh inject: ENOTDIR: not a directory, stat '${join(dir, 'plain.yaml')}/'`]);

    const noArgs = await runMesh(['inject']);
    expect(noArgs.code).toBe(2);
    expect(noArgs.stderr).toMatch(/^mesh inject: expected one file, folder or URL \(or - for stdin\), got 0/);
  });

  it('injects every manifest under a folder, sub-folders too, in name order, as linkerd inject does', async () => {
    const tree = mkdtempSync(join(dir, 'tree-'));
    const pod = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name} }\nspec:\n  containers: [{ name: app, image: app:1 }]\n`;
    writeFileSync(join(tree, 'b.yaml'), pod('b'));
    writeFileSync(join(tree, 'a.yml'), pod('a'));
    writeFileSync(join(tree, 'README.md'), 'not a manifest: left out\n');
    mkdirSync(join(tree, 'nested'));
    writeFileSync(join(tree, 'nested', 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'c' }, spec: { containers: [{ name: 'app', image: 'app:1' }] } }));
    // A link to a file is read as the file (a mounted ConfigMap's are links); a link to a folder, here a loop, is not walked.
    const outside = mkdtempSync(join(dir, 'outside-'));
    writeFileSync(join(outside, 'l.yaml'), pod('l'));
    symlinkSync(join(outside, 'l.yaml'), join(tree, 'link.yaml'));
    symlinkSync(tree, join(tree, 'nested', 'loop'));
    // An editor's lock beside the file it has open (Emacs's is a link to nowhere) is hidden: left out, not an error.
    symlinkSync('user@host.1234:1700000000', join(tree, '.#a.yml'));
    const { code, stdout, stderr } = await runMesh(['inject', tree]);
    expect(code).toBe(0);
    expect(stderr.trim().split('\n')).toEqual(['pod/a injected', 'pod/b injected', 'pod/l injected', 'pod/c injected']);
    expect(docsOf(stdout).map((d: any) => [d.metadata.name, d.spec.containers.map((c: any) => c.name)])).toEqual([
      ['a', ['mesh-proxy', 'app']],
      ['b', ['mesh-proxy', 'app']],
      ['l', ['mesh-proxy', 'app']],
      ['c', ['mesh-proxy', 'app']],
    ]);

    // A bad file is named by its path inside the folder.
    writeFileSync(join(tree, 'nested', 'd.yaml'), 'kind: Pod\nmetadata: {name: x\n');
    const bad = await runMesh(['inject', tree]);
    expect([bad.code, bad.stdout]).toEqual([1, '']);
    expect(bad.stderr).toContain(`${join(tree, 'nested', 'd.yaml')}: document 1`);

    const empty = mkdtempSync(join(dir, 'empty-'));
    writeFileSync(join(empty, 'notes.txt'), 'nothing to inject');
    const none = await runMesh(['inject', empty]);
    expect([none.code, none.stdout, none.stderr.trim()]).toEqual([1, '', `mesh inject: ${empty} is a folder with no .yaml, .yml or .json file in it or below`]);
  });

  it('fetches a URL (linkerd inject https://.../app.yml), and names the URL and the answer when it fails', async () => {
    const server: Server = createServer((req, res) => {
      if (req.url === '/app.yaml') return res.end(APP);
      // Headers and half the body, then the server goes away.
      if (req.url === '/cut.yaml') {
        res.writeHead(200, { 'content-length': String(APP.length) });
        res.write(APP.slice(0, 20));
        return void setTimeout(() => res.destroy(), 20);
      }
      res.statusCode = 404;
      res.end('no such manifest');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const { code, stdout, stderr } = await runMesh(['inject', `${base}/app.yaml`]);
      expect(code).toBe(0);
      expect(stderr.trim().split('\n')[0]).toBe('deployment/checkout injected');
      expect(docsOf(stdout).map((d: any) => d.kind)).toEqual(['Namespace', 'Service', 'Deployment', 'StatefulSet', 'Pod']);

      const missing = await runMesh(['inject', `${base}/gone.yaml`]);
      expect([missing.code, missing.stdout, missing.stderr.trim()]).toEqual([1, '', `mesh inject: cannot fetch ${base}/gone.yaml: the server answered 404 Not Found`]);

      const cut = await runMesh(['inject', `${base}/cut.yaml`]);
      expect([cut.code, cut.stdout]).toEqual([1, '']);
      expect(cut.stderr.trim()).toMatch(new RegExp(`^mesh inject: cannot fetch ${base}/cut.yaml: \\S`));
    } finally {
      await new Promise((r) => server.close(r));
    }
    // Nothing listens there: the error says so, with the URL.
    const refused = await runMesh(['inject', `${base}/app.yaml`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(new RegExp(`^mesh inject: cannot fetch ${base}/app.yaml: .*ECONNREFUSED`));

    // A host with an address of each family (localhost, on most machines) is tried on both; each refusal is said.
    const dualStack = file('dual-stack.cjs', `const dns = require('node:dns');
const lookup = dns.lookup;
dns.lookup = (host, options, callback) => {
  if (host !== 'dual.test') return lookup(host, options, callback);
  const all = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
  return options.all ? callback(null, all) : callback(null, all[0].address, all[0].family);
};
`);
    const port = new URL(base).port;
    const both = await runMesh(['inject', `http://dual.test:${port}/app.yaml`], '', { NODE_OPTIONS: `--require ${dualStack}` });
    expect(both.code).toBe(1);
    // ::1 refuses, or is unreachable on a machine without IPv6.
    expect(both.stderr.trim()).toMatch(new RegExp(`^mesh inject: cannot fetch http://dual.test:${port}/app.yaml: connect [A-Z]+ ::1:${port}; connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`));
  });
});
