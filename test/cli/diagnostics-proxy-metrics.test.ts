// `mesh diagnostics proxy-metrics`, as `linkerd diagnostics proxy-metrics`: the raw /metrics of
// each proxy of a pod or a Deployment, found in the running demo's record, from real proxies that
// carried a real request; and a clear word for a resource that does not run, an unmeshed pod, a
// proxy that does not answer, and a malformed argument.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PodRecord, RunRecord } from '../../examples/orders-checkout/runner/state.ts';
import { startHttp1App, type Http1App } from '../helpers/apps.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { startAppBehindTwoProxies, type AppBehindProxies } from '../helpers/two-proxies.ts';
import { runMesh } from './run-mesh.ts';

const NET = await addressBlock();
const AUTHORITY = 'web.test.svc.cluster.local:8080';

let mesh: AppBehindProxies<Http1App>;
const tmp = mkdtempSync(join(tmpdir(), 'mesh-diagnostics-'));
const state = join(tmp, 'state');

const pod = (name: string, workload: string, ip: string, adminUrl: string | null): PodRecord => ({
  name, namespace: 'test', workload, ip, serviceAccount: 'default', identity: null, meshed: adminUrl !== null,
  adminUrl, appPorts: [8080], role: 'workload',
});

/** A port on which nothing listens: taken, then given back. */
async function closedPort(host: string): Promise<number> {
  const server = createServer().listen(0, host);
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { clientIp: `${NET}.1`, serverIp: `${NET}.2`, authority: AUTHORITY });
  const client = new Client(mesh.proxyUrl);
  try {
    const res = await client.request({ path: '/hello', method: 'GET', headers: { host: AUTHORITY } });
    expect(res.statusCode).toBe(200);
    await res.body.text();
  } finally {
    await client.close();
  }
  // The demo's record as the runner writes it, owned by this (alive) process: the two proxies as
  // two pods of their own Deployments, a pod without a sidecar, and one whose proxy has gone.
  mkdirSync(state, { recursive: true });
  const run: RunRecord = {
    runnerPid: process.pid, startedAt: new Date().toISOString(), ingressUrl: `http://${NET}.9:8000`, stateDir: state, processes: [],
    pods: [
      pod('web-client-0', 'web-client', `${NET}.1`, `http://${mesh.outbound.host}:${mesh.outbound.adminPort}`),
      pod('web-0', 'web', `${NET}.2`, `http://${mesh.inbound.host}:${mesh.inbound.adminPort}`),
      pod('plain-0', 'plain', `${NET}.3`, null),
      pod('gone-0', 'gone', `${NET}.4`, `http://${NET}.4:${await closedPort(`${NET}.4`)}`),
    ],
  };
  writeFileSync(join(state, 'pods.json'), JSON.stringify(run));
}, 60_000);

afterAll(async () => {
  await mesh?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The output's sections: each pod's header, then its proxy's text. */
function sections(out: string): Array<{ header: string; text: string }> {
  const parts = out.split(/^#\n(# POD [^\n]+)\n#\n/m);
  const found: Array<{ header: string; text: string }> = [];
  for (let i = 1; i < parts.length; i += 2) found.push({ header: parts[i]!, text: parts[i + 1]! });
  return found;
}

describe('mesh diagnostics proxy-metrics', () => {
  it('prints each pod\'s own proxy metrics under Linkerd\'s header: the client\'s outbound request, the server\'s inbound one', async () => {
    const client = await runMesh(['diagnostics', 'proxy-metrics', '-n', 'test', 'deploy/web-client', '--state', state]);
    expect(client.err).toBe('');
    expect(client.code).toBe(0);
    const [only, ...more] = sections(client.out);
    expect(more).toEqual([]);
    expect(only!.header).toBe('# POD web-client-0 (1 of 1)');
    expect(only!.text).toMatch(/^response_total\{[^}]*direction="outbound"[^}]*\} 1$/m);
    expect(only!.text).not.toMatch(/^response_total\{[^}]*direction="inbound"/m);

    const server = await runMesh(['diagnostics', 'proxy-metrics', '-n', 'test', 'po/web-0', '--state', state]);
    expect(server.code).toBe(0);
    const [web] = sections(server.out);
    expect(web!.header).toBe('# POD web-0 (1 of 1)');
    expect(web!.text).toMatch(/^response_total\{[^}]*direction="inbound"[^}]*\} 1$/m);
    expect(web!.text).not.toMatch(/^response_total\{[^}]*direction="outbound"/m);
  });

  it('names what runs when the resource does not, and says which pods it could not read', async () => {
    const missing = await runMesh(['diagnostics', 'proxy-metrics', '-n', 'test', 'deploy/nope', '--state', state]);
    expect(missing.code).toBe(1);
    expect(missing.err.trim()).toBe('mesh diagnostics proxy-metrics: no deployment test/nope in the running demo (deployments in test: gone, plain, web, web-client)');

    const plain = await runMesh(['diagnostics', 'proxy-metrics', '-n', 'test', 'po/plain-0', '--state', state]);
    expect(plain.code).toBe(1);
    expect(plain.err.trim()).toBe('mesh diagnostics proxy-metrics: pod test/plain-0 has no proxy (it is not meshed)');

    const gone = await runMesh(['diagnostics', 'proxy-metrics', '-n', 'test', 'deploy/gone', '--state', state]);
    expect(gone.code).toBe(1);
    expect(gone.out).toBe('');
    expect(gone.err).toMatch(/^mesh diagnostics proxy-metrics: pod test\/gone-0: cannot read http:\/\/[\d.]+:\d+\/metrics: .*ECONNREFUSED.* \(is its proxy running\? see mesh pods\)\n$/);
  });

  it('refuses what is not po/NAME or deploy/NAME, with the usage', async () => {
    // Read as every `mesh viz` command reads a resource (viz/query/resource.ts), then narrowed.
    const refused: Array<[string, string]> = [
      ['svc/web', 'expected po/NAME or deploy/NAME, got "svc/web"'],
      ['deploy', 'expected po/NAME or deploy/NAME, got "deploy"'],
      ['deploy/', 'resource: "" is not a resource name (lower-case letters, digits, \'-\' and \'.\')'],
      ['deploy/Web', 'resource: "Web" is not a resource name (lower-case letters, digits, \'-\' and \'.\')'],
      ['<b>x</b>', 'resource: unknown resource kind "<b>x<"; use deploy, po, ns, au or svc'],
    ];
    for (const [arg, message] of refused) {
      const r = await runMesh(['diagnostics', 'proxy-metrics', arg, '--state', state]);
      expect(r.code, arg).toBe(2);
      expect(r.err, arg).toMatch(new RegExp(`^mesh diagnostics proxy-metrics: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*\nusage: mesh diagnostics proxy-metrics`));
    }
    const group = await runMesh(['diagnostics']);
    expect(group.code).toBe(2);
    expect(group.err.trim()).toBe('mesh: unknown command "diagnostics"; the diagnostics commands are: mesh diagnostics proxy-metrics.');
  });
});
