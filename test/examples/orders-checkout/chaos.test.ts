// The chaos suite in its short form (restart back-off 1 s instead of 10 s, a few seconds of clean
// load between faults): every bar of issue 12 must hold. The demo binds its fixed ports, so the
// whole run happens in a network namespace of its own (unshare), where it meets no other demo,
// test or learner. `npm run chaos` runs the same faults with Kubernetes's back-off and the
// lesson's route timeouts as taught.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { line, type Bar, type FaultResult } from '../../../bench/chaos/chaos.ts';

const REPO = join(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'chaos-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `npm run chaos` with `args` in a new network namespace; its output is read until 'close'. */
function chaosInNamespace(args: string[]): Promise<{ code: number | null; output: string }> {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const script = `set -e; ip link set lo up; exec "${process.execPath}" bin/run.js bench/chaos/index.ts ${quoted}`;
  // Root makes the namespace directly (CI runs as root); anyone else through a user namespace.
  const userns = process.getuid?.() === 0 ? [] : ['--map-root-user'];
  const child = spawn('unshare', [...userns, '--net', '--', 'sh', '-c', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/**
 * The lesson's manifests with its route timeouts ten times longer (POST /orders 5 s, GET 2 s).
 * The bars count failed requests, and what a fault costs is a failure or a hang, whatever the
 * timeout; but on a 2-core machine at load 20, starting a pod's processes (a rollout, a restart)
 * has pushed a checkout past the lesson's 500 ms with no fault to blame. Each fault's slowest
 * answer is still printed.
 */
function manifestsWithRoomyTimeouts(): string {
  const out = join(dir, 'manifests');
  cpSync(join(REPO, 'examples/orders-checkout/manifests'), out, { recursive: true });
  const lesson = join(out, 'lesson.yaml');
  const text = readFileSync(lesson, 'utf8');
  const roomy = text.replace('timeout: 500ms', 'timeout: 5s').replace('timeout: 200ms', 'timeout: 2s');
  if (roomy === text || roomy.includes('timeout: 500ms') || roomy.includes('timeout: 200ms')) throw new Error(`${lesson}: the route timeouts this test lengthens are not there any more`);
  writeFileSync(lesson, roomy);
  return out;
}

describe('chaos under steady load', () => {
  it('keeps every bar: control plane kills cost nothing, replica and canary kills cost at most a second, payments fails fast, a rolling restart costs nothing', async () => {
    const json = join(dir, 'chaos.json');
    // 6 checkouts/s: enough that every fault meets traffic, little enough to leave a loaded
    // 2-core machine room for the demo's restarts.
    const { code, output } = await chaosInNamespace(['--backoff', '1', '--rate', '6', '--settle', '3', '--json', json, '--manifests', manifestsWithRoomyTimeouts()]);
    console.log(output);
    const { results, bars } = JSON.parse(readFileSync(json, 'utf8')) as { results: FaultResult[]; bars: Bar[] };
    expect(results.map((r) => r.fault)).toEqual(expect.arrayContaining([
      'destination', 'identity CA', 'viz', 'orders-stable app', 'orders-stable proxy', 'orders-canary app', 'payments app', 'rolling restart of orders-stable',
    ]));
    expect(bars.filter((b) => !b.ok).map((b) => `${b.fault}: ${b.bar}: ${line(results.find((r) => r.fault === b.fault)!)}`)).toEqual([]);
    expect(code).toBe(0);
  }, 900_000);
});
