// The compose demo's clusterIPs: every Service of the demo's manifests gets one, the copy the
// destination serves carries them (and every other line of the manifests), and a Service that
// names a different clusterIP of its own is refused rather than silently renumbered.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { serviceAddresses, writeManifestsWithClusterIps } from '../../../examples/orders-checkout/runner/cluster-ips.ts';
import { listResourceFiles, readDocuments } from '../../../destination/store/folder-reader.ts';

const manifests = join(import.meta.dirname, '../../../examples/orders-checkout/manifests');

describe('clusterIPs for the compose demo', () => {
  it('gives each Service one address, and the copy carries it with everything else unchanged', () => {
    const out = mkdtempSync(join(tmpdir(), 'cluster-ips-'));
    try {
      const given = writeManifestsWithClusterIps(manifests, out);
      expect(given).toEqual(serviceAddresses(manifests));
      expect(given.find((s) => s.name === 'payments')).toEqual({ name: 'payments', namespace: 'production', clusterIP: '10.96.0.14', host: 'payments.production.svc.cluster.local' });
      expect(new Set(given.map((s) => s.clusterIP)).size).toBe(given.length);
      // What the destination reads from the copy: the same documents, each Service with its address.
      const docs = listResourceFiles(out).flatMap((f) => readDocuments(out, f).docs.map((d) => d.value as { kind: string; metadata: { name: string }; spec: Record<string, unknown> }));
      const services = docs.filter((d) => d.kind === 'Service');
      expect(services.map((s) => [s.metadata.name, s.spec.clusterIP])).toEqual(given.map((s) => [s.name, s.clusterIP]));
      const original = listResourceFiles(manifests).flatMap((f) => readDocuments(manifests, f).docs.map((d) => d.value as { kind: string; spec?: Record<string, unknown> }));
      expect(docs.length).toBe(original.length);
      expect(docs.map((d) => ({ ...d, spec: d.kind === 'Service' ? { ...d.spec, clusterIP: undefined } : d.spec })))
        .toEqual(original.map((d) => ({ ...d, spec: d.kind === 'Service' ? { ...d.spec, clusterIP: undefined } : d.spec })));
      // Comments stay: the manifests are a lesson, and the copy is what a learner finds in the volume.
      expect(readFileSync(join(out, 'services.yaml'), 'utf8')).toContain("# The demo's Services");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('refuses a Service that names a clusterIP of its own, naming the file and the Service', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cluster-ips-bad-'));
    try {
      writeFileSync(join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\nspec:\n  clusterIP: 10.0.0.7\n  ports: [{port: 80}]\n');
      expect(() => writeManifestsWithClusterIps(dir, join(dir, 'out'))).toThrow(/svc\.yaml: Service demo\/web names clusterIP 10\.0\.0\.7; the compose demo assigns 10\.96\.0\.10/);
      expect(parseAllDocuments(readFileSync(join(dir, 'svc.yaml'), 'utf8')).length).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
