// `mesh inject` as a real process: multi-document YAML in, injected YAML out, a summary line per workload.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    expect([missing.code, missing.stderr.trim()]).toEqual([1, `mesh inject: ENOENT: no such file or directory, open '${join(dir, 'nope.yaml')}'`]);

    const noArgs = await runMesh(['inject']);
    expect(noArgs.code).toBe(2);
    expect(noArgs.stderr).toMatch(/^mesh inject: expected one file \(or - for stdin\), got 0/);
  });
});
