// The chaos suite in its short form (restart back-off 1 s instead of 10 s, a few seconds of clean
// load between faults), on a demo of its own in 127.0.32.0/24: every bar of issue 12 must hold.
// `npm run chaos` runs the same faults with Kubernetes's back-off.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { line, runChaos } from '../../../bench/chaos/chaos.ts';

const stateDir = mkdtempSync(join(tmpdir(), 'demo-chaos-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

describe('chaos under steady load', () => {
  it('keeps every bar: control plane kills cost nothing, replica and canary kills cost at most a second, a rolling restart costs nothing', async () => {
    const log: string[] = [];
    const { results, bars } = await runChaos({
      root: join(import.meta.dirname, '../../..'), net: '127.0.32', stateDir, backoffSeconds: 1, rate: 15, settleMs: 2000,
      say: (l) => log.push(l),
    });
    console.log(log.join('\n'));
    expect(results.map((r) => r.fault)).toEqual(expect.arrayContaining(['destination', 'identity CA', 'orders-stable app', 'orders-stable proxy', 'orders-canary app', 'payments app', 'rolling restart of orders-stable']));
    expect(bars.filter((b) => !b.ok).map((b) => `${b.fault}: ${b.bar}: ${line(results.find((r) => r.fault === b.fault)!)}`)).toEqual([]);
  }, 420_000);
});
