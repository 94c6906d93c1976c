// The --netns demo's port-forward (host TCP -> Unix socket -> TCP in the namespace), with real
// sockets and no namespace (a Unix socket belongs to none): bytes cross both ways, and a peer that
// resets or vanishes mid-connection ends every socket of that connection without crashing the runner.
import { afterAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeAll, forwardFromHost, forwardIntoNamespace } from '../../examples/orders-checkout/runner/netns/port-forward.ts';

const dir = mkdtempSync(join(tmpdir(), 'port-forward-'));
const accepted: net.Socket[] = [];
const target = net.createServer((s) => {
  accepted.push(s);
  s.on('error', () => {});
  s.on('data', (d) => s.write(`echo:${d}`));
});
const servers: net.Server[] = [];

afterAll(async () => {
  await closeAll(servers);
  await new Promise((resolve) => target.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const connections = (s: net.Server) => new Promise<number>((resolve, reject) => s.getConnections((err, n) => (err ? reject(err) : resolve(n))));
const closed = (s: net.Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
async function settled(): Promise<number[]> {
  // Closing crosses two hops; poll with a generous bound rather than guess a delay.
  for (let i = 0; i < 200; i++) {
    const counts = await Promise.all(servers.map(connections));
    if (counts.every((n) => n === 0)) return counts;
    await new Promise((r) => setTimeout(r, 25));
  }
  return Promise.all(servers.map(connections));
}

describe('port-forward', () => {
  it('carries bytes both ways; a reset on either side ends the whole connection and leaves no socket', async () => {
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const f = { hostAddr: '127.0.0.1:0', socket: join(dir, 'fwd.sock'), target: `127.0.0.1:${(target.address() as net.AddressInfo).port}` };
    servers.push(await forwardIntoNamespace(f), await forwardFromHost(f));
    const port = (servers[1]!.address() as net.AddressInfo).port;
    const dial = async () => {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => {});
      c.write('hi');
      const reply = await new Promise<string>((resolve) => c.once('data', (d) => resolve(String(d))));
      return { c, reply, far: accepted.at(-1)! };
    };

    // The app's side resets: the learner's client is closed, nothing stays open in between.
    const first = await dial();
    expect(first.reply).toBe('echo:hi');
    first.far.resetAndDestroy();
    await closed(first.c);
    expect(await settled()).toEqual([0, 0]);

    // The learner's client vanishes (reset) mid-connection: the app's side is closed too.
    const second = await dial();
    second.c.resetAndDestroy();
    await closed(second.far);
    expect(await settled()).toEqual([0, 0]);

    // And the forward still serves.
    const third = await dial();
    expect(third.reply).toBe('echo:hi');
    third.c.destroy();
    await closed(third.far);
  });
});
