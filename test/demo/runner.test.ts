// The runner's failures, through the entry point a user types (`node bin/mesh.js demo`): each
// ends with a message a newcomer can act on, exit code 1, no stack trace and nothing left running.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const net27 = '127.0.27';
const temp: string[] = [];
const tempDir = (tag: string) => {
  const d = mkdtempSync(join(tmpdir(), `demo-${tag}-`));
  temp.push(d);
  return d;
};
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));

function mesh(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/mesh.js', ...args], { cwd: root, env: { ...process.env, MESH_DEMO_NET: net27, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

describe('mesh demo failures', () => {
  it('a broken workload manifest names the file, the Deployment and the field', async () => {
    const dir = tempDir('bad-workloads');
    writeFileSync(join(dir, 'web.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        command: node app.ts\n');
    const r = await mesh(['demo', '--workloads', dir, '--state', tempDir('state')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(dir, 'web.yaml')}: document 1 (Deployment "web"): spec.template.spec.containers[0].command: must be a non-empty list of strings`);
    noStackTrace(r.err);
  });

  it('a broken Service or policy file stops the start with file, resource and field', async () => {
    const dir = tempDir('bad-resources');
    cpSync(join(root, 'examples/orders-checkout/manifests'), dir, { recursive: true });
    const lesson = join(dir, 'lesson.yaml');
    const text = execFileSync('cat', [lesson], { encoding: 'utf8' });
    writeFileSync(lesson, text.replace('weight: 10', 'weight: -10'));
    const r = await mesh(['demo', '--manifests', dir, '--state', tempDir('state')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the resources in ${dir} do not load`);
    expect(r.err).toMatch(/lesson\.yaml: HTTPRoute production\/orders-canary: spec\.rules\[0\]\.backendRefs\[1\]\.weight/);
    noStackTrace(r.err);
  });

  it('a port already taken is named, with how to find who holds it', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(8000, `${net27}.1`, r));
    try {
      const r = await mesh(['demo', '--state', tempDir('state')]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`${net27}.1:8000 (for ingress) is already in use`);
      expect(r.err).toContain("ss -ltnp 'sport = :8000'");
      noStackTrace(r.err);
    } finally {
      holder.close();
    }
  });

  it('a second copy is told where the first one runs; a stale lock is taken over', async () => {
    const state = tempDir('state');
    mkdirSync(state, { recursive: true });
    // A live process (this test) holds the lock, as a running demo would.
    writeFileSync(join(state, 'demo.pid'), String(process.pid));
    const r = await mesh(['demo', '--state', state]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the demo is already running (process ${process.pid}`);
    expect(r.err).toContain(`kill ${process.pid}`);
    noStackTrace(r.err);
    // A lock whose process is gone: the next start proceeds past the lock (and fails later on a bad workloads dir).
    writeFileSync(join(state, 'demo.pid'), '999999');
    const again = await mesh(['demo', '--state', state, '--workloads', '/nonexistent']);
    expect(again.err).toContain('cannot read the workloads folder /nonexistent');
  });

  it('a damaged state folder stops the CA with a message saying how to start over, and leaves nothing running', async () => {
    const state = tempDir('state');
    execFileSync(process.execPath, ['bin/mesh.js', 'identity', 'init', '--dir', join(state, 'identity')], { cwd: root });
    writeFileSync(join(state, 'identity', 'ca.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    const r = await mesh(['demo', '--state', state, '--ready-timeout', '20']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('identity did not become ready');
    expect(r.err).toContain(`rm -rf ${join(state, 'identity')}`);
    noStackTrace(r.err);
    expect(await portFree(`${net27}.250`, 8080)).toBe(true);
  });

  it('mesh pods without a running demo says how to start one', async () => {
    const r = await mesh(['pods', '--state', join(tempDir('state'), 'missing')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no demo is running .* Start it with: npm start/);
    const corrupt = tempDir('state');
    cpSync(join(root, 'package.json'), join(corrupt, 'pods.json'));
    const c = await mesh(['pods', '--state', corrupt]);
    expect(c.err).toMatch(/pods\.json is damaged \(missing pods or runnerPid\)\. Restart the demo/);
  });
});
