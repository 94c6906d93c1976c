// The CA down when a proxy starts: a real `mesh proxy` process, configured only by the environment
// the injector and the demo runner set, reports not ready (503, with the reason) and becomes
// ready once the CA comes up, without a restart.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { controlPlane, eventually, spawnProxy, type ChildProxy, type ControlPlane } from '../../helpers/control-plane.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();
const POD_IP = `${NET}.21`;
// A fixed port on an address of this test's own, so the CA can come up where the proxy already looks.
const CA_ADDR = `${NET}.20:18080`;

let cp: ControlPlane | undefined;
let proc: ChildProxy | undefined;

afterAll(async () => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  await cp?.close();
});

describe('the CA down at proxy start', () => {
  it('the proxy is not ready (503 with the reason) until the CA is up, then ready with no restart', async () => {
    cp = await controlPlane();
    const endpoints = join(cp.dir, 'endpoints.json');
    writeFileSync(endpoints, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [] }));
    // The names injector/sidecar.ts and the demo runner set: one set of names everywhere.
    proc = await spawnProxy({
      MESH_POD_IP: POD_IP,
      MESH_PROXY_OUTBOUND_PORT: '0',
      MESH_PROXY_INBOUND_PORT: '0',
      MESH_PROXY_ADMIN_PORT: '0',
      MESH_POD_NAME: 'orders-1',
      MESH_POD_NAMESPACE: 'production',
      MESH_SERVICE_ACCOUNT: 'orders',
      MESH_IDENTITY: 'spiffe://cluster.local/ns/production/sa/orders',
      MESH_IDENTITY_ADDR: CA_ADDR,
      MESH_TRUST_ANCHORS: cp.anchorsFile,
      MESH_TOKEN_FILE: cp.tokenFile('production', 'orders'),
      MESH_PROXY_ENDPOINTS_FILE: endpoints,
    });
    const { child } = proc;
    const pid = child.pid;
    const ready = async () => {
      const r = await fetch(`http://${POD_IP}:${proc!.adminPort}/ready`);
      return { status: r.status, body: await r.text() };
    };
    const before = await ready();
    expect(before.status).toBe(503);
    expect(before.body).toContain(`no certificate yet from the identity CA at ${CA_ADDR}`);
    // Still not ready a while later: it keeps retrying, it does not give up or pretend.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await ready()).status).toBe(503);

    const upAt = Date.now();
    await cp.startIdentity(CA_ADDR);
    await eventually(async () => (await ready()).status === 200, 20_000, 'the proxy ready after the CA came up');
    console.log(`ready ${Date.now() - upAt} ms after the CA came up`);
    expect(child.exitCode).toBeNull();
    expect(child.pid).toBe(pid);

    child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }, 60_000);
});
