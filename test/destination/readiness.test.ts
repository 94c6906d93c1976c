// Only Ready pods are endpoints: a proxy announces its pod's Ready condition (from the file the
// kubelet keeps it in) and announces it again when it changes; watchers hear within a second.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PodReadyFile } from '../../proxy/discovery/pod-ready-file.ts';
import { addresses, pod, quietLogger, harnessForFile, until, } from './harness.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const h = harnessForFile('lesson', `${NET}.7`);
const dir = mkdtempSync(join(tmpdir(), 'pod-ready-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The kubelet's way of writing the file: whole, by rename. */
function setReady(file: string, ready: boolean): void {
  writeFileSync(`${file}.tmp`, `${ready}\n`);
  renameSync(`${file}.tmp`, file);
}

describe('pod readiness in endpoints', () => {
  it('a pod is an endpoint only while Ready, and each change reaches a watcher within a second', async () => {
    const watcher = await h.client('production/checkout', { namespace: 'production' });
    const cell = watcher.endpoints('orders-stable.production:8080');
    const readyA = join(dir, 'a.ready');
    setReady(readyA, false);
    const fileA = new PodReadyFile(readyA, quietLogger());
    await h.client('production/orders', { pod: pod('stable-a', `${NET}.71`, { app: 'orders', track: 'stable' }), podReady: fileA });
    // No ready file: Ready (a proxy without a kubelet).
    await h.client('production/orders', { pod: pod('stable-b', `${NET}.72`, { app: 'orders', track: 'stable' }) });
    await until(cell, (s) => addresses(s).join() === `${NET}.72:8080`, 5_000, 'only the Ready replica');

    for (const [ready, want] of [[true, `${NET}.71:8080,${NET}.72:8080`], [false, `${NET}.72:8080`], [true, `${NET}.71:8080,${NET}.72:8080`]] as const) {
      const began = Date.now();
      setReady(readyA, ready);
      await until(cell, (s) => addresses(s).join() === want, 1_000, `Ready=${ready} within a second`);
      console.log(`Ready=${ready} reached a watcher in ${Date.now() - began} ms`);
    }
    // A pod's own IP still reaches it when not Ready (as a Pod IP does in Kubernetes).
    setReady(readyA, false);
    await until(cell, (s) => addresses(s).join() === `${NET}.72:8080`, 1_000, 'not Ready again');
    const direct = await watcher.endpoints(`${NET}.71:8080`).first(2_000);
    expect(addresses(direct)).toEqual([`${NET}.71:8080`]);
    fileA.close();
  });
});
