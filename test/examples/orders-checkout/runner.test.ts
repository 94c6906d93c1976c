// The runner's failures that happen before it binds anything, through the entry point a user
// types (`node bin/mesh.js demo`): each ends with a message a newcomer can act on, exit code 1,
// no stack trace. Failures that need the demo's addresses are in e2e.test.ts, which owns them.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressBlock } from '../../helpers/address-block.ts';
import { identify } from '../../../examples/orders-checkout/runner/process-identity.ts';

const root = join(import.meta.dirname, '../../..');
const demoNet = await addressBlock();
const temp: string[] = [];
const tempDir = (tag: string) => {
  const d = mkdtempSync(join(tmpdir(), `demo-${tag}-`));
  temp.push(d);
  return d;
};
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));

function mesh(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/mesh.js', ...args], { cwd: root, env: { ...process.env, MESH_DEMO_NET: demoNet, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err })); // after the pipes end, not at 'exit'
  });
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

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
    const text = readFileSync(lesson, 'utf8');
    writeFileSync(lesson, text.replace('weight: 10', 'weight: -10'));
    const r = await mesh(['demo', '--manifests', dir, '--state', tempDir('state')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the resources in ${dir} do not load`);
    expect(r.err).toMatch(/lesson\.yaml: HTTPRoute production\/orders-canary: spec\.rules\[0\]\.backendRefs\[1\]\.weight/);
    noStackTrace(r.err);
  });

  it('a second copy is told where the first one runs', async () => {
    const state = tempDir('state');
    mkdirSync(state, { recursive: true });
    // A live process (this test) holds the lock, as a running demo would.
    writeFileSync(join(state, 'demo.pid'), String(process.pid));
    const r = await mesh(['demo', '--state', state]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`the demo is already running (process ${process.pid}`);
    expect(r.err).toContain(`kill ${process.pid}`);
    noStackTrace(r.err);
  });

  it('a killed runner\'s leftover is stopped before the addresses are checked', async () => {
    const state = tempDir('state');
    // The leftover: a process in a group of its own holding the front door's address, recorded as
    // a runner that is gone would have recorded it.
    const front = `${demoNet}.1`;
    const leftover = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(8000, '${front}', () => console.log('ready'))`], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const ended = new Promise<string | null>((r) => leftover.once('exit', (_code, signal) => r(signal)));
    await new Promise((r) => leftover.stdout!.once('data', r));
    const started = identify(leftover.pid!)!.started;
    const deadRunner = { pid: 999_999, started: 'another-boot@1' };
    mkdirSync(join(state, 'processes'));
    writeFileSync(join(state, 'processes', `${leftover.pid}.json`), JSON.stringify({ pid: leftover.pid, pgid: leftover.pid, started, pod: 'ingress', container: 'ingress', runner: deadRunner }));
    // And an address that stays taken, so the start stops at the check, after the leftover is gone.
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(8086, `${demoNet}.251`, r));
    try {
      const r = await mesh(['demo', '--state', state]);
      const said = `${r.out}${r.err}`; // shown with any failure below
      expect(r.code, said).toBe(1);
      expect(r.out, said).toContain(`stopped ingress of pod ingress (pid ${leftover.pid})`);
      expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r('still running'), 10_000))])).toBe('SIGTERM');
      expect(r.err, said).toContain(`${demoNet}.251:8086 (for destination) is already in use`);
      expect(r.err, said).not.toContain(`${front}:8000`);
    } finally {
      holder.close();
      leftover.kill('SIGKILL');
    }
  });

  it('mesh pods without a running demo says how to start one', async () => {
    const r = await mesh(['pods', '--state', join(tempDir('state'), 'missing')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no demo is running .* Start it with: npm start/);
    const corrupt = tempDir('state');
    cpSync(join(root, 'package.json'), join(corrupt, 'pods.json'));
    const c = await mesh(['pods', '--state', corrupt]);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/pods\.json is damaged \(missing pods or runnerPid\)\. Restart the demo/);
  });
});
