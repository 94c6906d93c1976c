// How `mesh` commands find the running demo: --state, then $MESH_STATE_DIR, then the nearest
// .mesh-state/ above the working directory, then the project's; and a real `mesh endpoints`
// reaching a real destination with nothing but a state folder to go on.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoNotFound, findDemo, locateState } from '../../cli/find-demo.ts';
import { hoistGlobalFlags } from '../../cli/global-flags.ts';
import { identify } from '../../examples/orders-checkout/runner/process-identity.ts';
import type { RunRecord } from '../../examples/orders-checkout/runner/state.ts';
import { startHarness, type Harness } from '../destination/harness.ts';
import { runMesh } from './run-mesh.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
/** NET inside a regular expression. */
const NET_RE = NET.replaceAll('.', '\\.');

let tmp: string;

/** A state folder as the runner leaves it, owned by `pid` (this test process: alive). */
function writeState(dir: string, record: Partial<RunRecord> = {}, pid = process.pid): void {
  mkdirSync(dir, { recursive: true });
  const run: RunRecord = { runnerPid: pid, startedAt: new Date().toISOString(), ingressUrl: `http://${NET}.1:8000`, stateDir: dir, pods: [], processes: [], ...record };
  writeFileSync(join(dir, 'pods.json'), JSON.stringify(run));
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mesh-find-demo-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('locateState: where the state folder is looked for', () => {
  it('takes the flag over the environment, the environment over the working directory', () => {
    const deep = join(tmp, 'precedence', 'a', 'b');
    mkdirSync(deep, { recursive: true });
    mkdirSync(join(tmp, 'precedence', '.mesh-state'));
    const env = { MESH_STATE_DIR: '/from/env' };
    expect(locateState({ flag: 'given', env, cwd: deep })).toEqual({ dir: join(deep, 'given'), source: 'flag' });
    expect(locateState({ env, cwd: deep })).toEqual({ dir: '/from/env', source: 'env' });
    expect(locateState({ env: {}, cwd: deep })).toEqual({ dir: join(tmp, 'precedence', '.mesh-state'), source: 'cwd' });
  });

  it('falls back to the project\'s own .mesh-state when none is above the working directory', () => {
    const lonely = mkdtempSync(join(tmpdir(), 'mesh-no-state-'));
    try {
      expect(locateState({ env: {}, cwd: lonely, root: '/the/project' })).toEqual({ dir: '/the/project/.mesh-state', source: 'project' });
    } finally {
      rmSync(lonely, { recursive: true, force: true });
    }
  });
});

describe('findDemo: what the state folder says', () => {
  it('says no demo runs, where it looked and how to start one', () => {
    const empty = join(tmp, 'empty-state');
    mkdirSync(empty);
    const err = (() => { try { findDemo({ flag: empty }); } catch (e) { return e; } })() as DemoNotFound;
    expect(err).toBeInstanceOf(DemoNotFound);
    expect(err.code).toBe('NOT_RUNNING');
    expect(err.message).toContain(`no demo is running (no ${join(empty, 'pods.json')})`);
    expect(err.message).toContain('given with --state');
    expect(err.message).toContain('npm start');
  });

  it('says the demo stopped when the runner that wrote pods.json is gone', async () => {
    const dir = join(tmp, 'stale');
    // A real process that has exited: its pid is free (or reused by one we may not signal).
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => gone.on('close', r));
    writeState(dir, {}, gone.pid!);
    expect(() => findDemo({ flag: dir })).toThrow(/is no longer running/);
  });

  it('says the demo stopped when the runner\'s PID now names another live process (mesh pods, as an operator runs it)', async () => {
    const dir = join(tmp, 'recycled');
    // The runner as it was: a real process, its start identity read while it ran, then gone.
    const runner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await new Promise((r) => runner.once('spawn', r));
    const runnerStarted = identify(runner.pid!)!.started!;
    const runnerGone = new Promise((r) => runner.on('close', r));
    runner.kill('SIGKILL');
    await runnerGone;
    // Another live process now holds the PID pods.json names (the kernel recycles PIDs; here one
    // is simply named, as it would be after a reboot or a wrap-around). Start times count clock
    // ticks (10 ms), so it starts a few ticks later: a recycled PID's process cannot share its
    // predecessor's tick, and two processes started in one tick here would read as the same.
    await new Promise((r) => setTimeout(r, 50));
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await new Promise((r) => other.once('spawn', r));
    try {
      expect(identify(other.pid!)!.started).not.toBe(runnerStarted);
      writeState(dir, { runnerStarted }, other.pid!);
      const pods = await runMesh(['--state', dir, 'pods']);
      expect(pods.code).not.toBe(0);
      expect(pods.err).toContain(`the demo that wrote ${join(dir, 'pods.json')} (process ${other.pid}) is no longer running`);
      // The same file naming the live process's own start is its runner's: read as running.
      writeState(dir, { runnerStarted: identify(other.pid!)!.started! }, other.pid!);
      const alive = await runMesh(['--state', dir, 'pods']);
      expect([alive.code, alive.err]).toEqual([0, '']);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('names a damaged pods.json', () => {
    const dir = join(tmp, 'damaged');
    mkdirSync(dir);
    writeFileSync(join(dir, 'pods.json'), '{"runnerPid": ');
    expect(() => findDemo({ flag: dir })).toThrow(expect.objectContaining({ code: 'CORRUPT_STATE', message: expect.stringContaining('pods.json is damaged') }));
  });

  it('gives the published addresses, and the fixed ones for an older record', () => {
    const dir = join(tmp, 'published');
    writeState(dir, { controlPlane: { identityAddr: `${NET}.250:8080`, destinationAddr: `${NET}.251:8086`, trustAnchorsFile: '/x/ca.crt', resourcesDir: '/x/res' } });
    expect(findDemo({ flag: dir })).toMatchObject({ identityAddr: `${NET}.250:8080`, destinationAddr: `${NET}.251:8086`, vizAddr: '127.0.0.1:8085', trustAnchorsFile: '/x/ca.crt', resourcesDir: '/x/res' });
    const old = join(tmp, 'older');
    writeState(old);
    expect(findDemo({ flag: old })).toMatchObject({ identityAddr: '127.0.0.1:8080', destinationAddr: '127.0.0.1:8086', trustAnchorsFile: join(old, 'identity', 'ca.crt') });
  });
});

describe('global flags before the command', () => {
  it('hands -n and --state to the command, refuses others', () => {
    expect(hoistGlobalFlags(['-n', 'production', 'check', '--proxy'])).toEqual({ command: ['check', '--proxy'], globals: ['-n', 'production'] });
    expect(hoistGlobalFlags(['--namespace=production', '--state', 's', 'pods'])).toEqual({ command: ['pods'], globals: ['--namespace=production', '--state', 's'] });
    expect(hoistGlobalFlags(['-n'])).toBe('-n needs a value');
    expect(hoistGlobalFlags(['--proxy', 'check'])).toMatch(/"--proxy" before the command/);
  });
});

describe('mesh endpoints with only a state folder', () => {
  let h: Harness;
  let project: string;
  beforeAll(async () => {
    h = await startHarness('lesson', `${NET}.1`);
    project = join(tmp, 'project');
    const state = join(project, '.mesh-state');
    writeState(state, { controlPlane: { identityAddr: `${NET}.1:1`, destinationAddr: h.server.address, trustAnchorsFile: join(state, 'ca.crt'), resourcesDir: h.dir } });
    writeFileSync(join(state, 'ca.crt'), h.pki.anchorPem);
    mkdirSync(join(project, 'sub', 'dir'), { recursive: true });
  });
  afterAll(() => h?.close());

  it('finds the destination and its trust anchors from a folder below the state', async () => {
    const r = await runMesh(['endpoints', 'orders.production.svc.cluster.local:8080'], { cwd: join(project, 'sub', 'dir') });
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^orders\.production\.svc\.cluster\.local:8080: /);
    expect(r.code).toBe(0);
  });

  it('lets a flag win over the state folder', async () => {
    const r = await runMesh(['endpoints', 'orders.production', '--addr', `${NET}.2:9`], { cwd: project });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(String.raw`${NET_RE}\.2:9`));
  });

  it('says no demo is running, and how to start one, when none is', async () => {
    const empty = join(tmp, 'nothing-here');
    mkdirSync(empty, { recursive: true });
    const r = await runMesh(['endpoints', 'orders.production'], { cwd: empty, env: { MESH_STATE_DIR: join(empty, '.mesh-state') } });
    expect(r.code).toBe(1);
    expect(r.err).toContain('no demo is running');
    expect(r.err).toContain(`from $MESH_STATE_DIR`);
    expect(r.err).toContain('npm start');
    expect(r.err).toContain('--addr ADDR --trust-anchors FILE');
  });

  it('mesh pods reads the same folder, given before the command', async () => {
    const r = await runMesh(['--state', join(project, '.mesh-state'), 'pods', '-o', 'json']);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ pods: [] });
  });
});
