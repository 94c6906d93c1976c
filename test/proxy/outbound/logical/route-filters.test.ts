// HTTPRoute filters end to end: curl (HTTP/1.1 through the client's outbound proxy as HTTP_PROXY,
// and HTTP/2 with prior knowledge) -> outbound proxy -> mTLS -> inbound proxy -> a real app, with
// a real CA and destination reading the HTTPRoute from its folder. Request and response header
// modifiers, redirects (prefix and full), an unsupported filter and a redirect loop (500 with the
// reason, never the unfiltered route), and a backendRef to a missing Service (500 for its share).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../../../helpers/address-block.ts';
import { controlPlane, eventually, proxyArgs, startProxy, type ControlPlane, type RunningProxy } from '../../../helpers/control-plane.ts';

const run = promisify(execFile);
const WEB = 'web.production.svc.cluster.local:8080';

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: production}
spec:
  parentRefs: [{name: web, kind: Service, group: core, port: 8080}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /headers}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Env, value: mesh}]
        add: [{name: x-multi, value: added}]
        remove: [x-drop]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{name: x-served-by, value: the-mesh}]
        remove: [x-secret]
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}
  - matches: [{path: {type: Exact, value: /away}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: example.com}
  - matches: [{path: {type: PathPrefix, value: /mirror}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: web, port: 8080}}
  - matches: [{path: {type: PathPrefix, value: /loop}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /loop/again}}
  - matches: [{path: {type: PathPrefix, value: /gone}}]
    backendRefs: [{name: nowhere, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /half}}]
    backendRefs: [{name: web, port: 8080, weight: 1}, {name: nowhere, port: 8080, weight: 1}]
`;

let cp: ControlPlane;
let app: Server;
let client: RunningProxy;
let server: RunningProxy;

interface Curl {
  status: number;
  headers: Record<string, string[]>;
  body: string;
}

/** curl through the client pod's outbound proxy (as an app with HTTP_PROXY), or HTTP/2 to it with prior knowledge. */
async function curl(path: string, extra: string[] = [], h2 = false): Promise<Curl> {
  const via = h2
    ? ['--http2-prior-knowledge', '--connect-to', `${WEB}:${client.ip}:${client.outboundPort}`]
    : ['--http1.1', '-x', `http://${client.ip}:${client.outboundPort}`];
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-D', '-', ...via, ...extra, `http://${WEB}${path}`]);
  const cut = stdout.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = stdout.slice(0, cut).split('\r\n');
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    (headers[line.slice(0, i).toLowerCase()] ??= []).push(line.slice(i + 1).trim());
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: stdout.slice(cut + 4) };
}

beforeAll(async () => {
  const net = await addressBlock();
  cp = await controlPlane();
  writeFileSync(join(cp.resourcesDir, 'web.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: production}\nspec:\n  selector: {app: web}\n  ports: [{port: 8080, appProtocol: http}]\n');
  writeFileSync(join(cp.resourcesDir, 'route.yaml'), ROUTE);
  await cp.startIdentity(`${net}.1:0`);
  await cp.startDestination(`${net}.1:0`);
  // The app answers with the request headers it saw, and a header the response filter removes.
  app = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-secret': 'internal' });
      res.end(JSON.stringify({ path: req.url, headers: req.headers }));
    });
  });
  await new Promise<void>((resolve) => app.listen(8080, `${net}.2`, resolve));
  server = await startProxy(proxyArgs(cp, { name: 'web-1', serviceAccount: 'web', ip: `${net}.2`, labels: { app: 'web' }, ports: ['8080'] }));
  client = await startProxy(proxyArgs(cp, { name: 'client-1', serviceAccount: 'client', ip: `${net}.3`, labels: { app: 'client' } }));
  await eventually(async () => (await curl('/headers')).headers['x-served-by']?.[0] === 'the-mesh', 20_000, 'the route with filters reached the client proxy');
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([client?.stop(), server?.stop()]);
  app?.closeAllConnections();
  await new Promise((r) => app?.close(r));
  await cp?.close();
});

describe('HTTPRoute filters through real proxies', () => {
  it.each([false, true])('RequestHeaderModifier sets, adds and removes request headers; ResponseHeaderModifier the response (HTTP/2: %s)', async (h2) => {
    const r = await curl('/headers/x', ['-H', 'x-env: original', '-H', 'x-multi: mine', '-H', 'x-drop: please', '-H', 'x-keep: yes'], h2);
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    expect(seen.headers['x-env']).toBe('mesh');
    // node:http joins repeated headers with ", ".
    expect(seen.headers['x-multi']).toBe('mine, added');
    expect(seen.headers['x-drop']).toBeUndefined();
    expect(seen.headers['x-keep']).toBe('yes');
    expect(r.headers['x-served-by']).toEqual(['the-mesh']);
    expect(r.headers['x-secret']).toBeUndefined();
  });

  it('RequestRedirect ReplacePrefixMatch answers 301 from the proxy, keeping host, port and query', async () => {
    const r = await curl('/old/thing?id=7');
    expect(r.status).toBe(301);
    expect(r.headers['location']).toEqual([`http://${WEB}/new/thing?id=7`]);
    expect(r.body).toBe('');
  });

  it('RequestRedirect with a scheme and hostname: 302 to the scheme\'s well-known port', async () => {
    const r = await curl('/away', [], true);
    expect(r.status).toBe(302);
    expect(r.headers['location']).toEqual(['https://example.com/away']);
  });

  it('an unsupported filter refuses its rule: 500 naming it, never the route without it', async () => {
    const r = await curl('/mirror');
    expect(r.status).toBe(500);
    expect(r.headers['l5d-proxy-error']?.[0]).toBe('route "production/web#3": HTTPRoute production/web spec.rules[3] is refused: filter RequestMirror');
    expect(r.body).toMatch(/^ROUTE_REFUSED: /);
  });

  it('a redirect back into its own rule is refused as a loop: 500, not a redirect', async () => {
    const r = await curl('/loop/x');
    expect(r.status).toBe(500);
    expect(r.headers['l5d-proxy-error']?.[0]).toBe('route "production/web#4": HTTPRoute production/web spec.rules[4] is refused: redirect loop at spec.rules[4].filters[0].requestRedirect');
  });

  it('a backendRef to a missing Service gets 500 (Gateway API), for its share only', async () => {
    const gone = await curl('/gone');
    expect(gone.status).toBe(500);
    expect(gone.headers['l5d-proxy-error']?.[0]).toBe('route "production/web#5": backendRef Service production/nowhere of HTTPRoute production/web does not exist');
    const statuses = await Promise.all(Array.from({ length: 24 }, () => curl('/half').then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([200, 500]));
  });

  it('counts the proxy\'s own answers on their route', async () => {
    const text = await client.metrics();
    expect(text).toMatch(/route_response_total\{[^}]*rt_route="production\/web#1"[^}]*status_code="301"/);
  });
});
