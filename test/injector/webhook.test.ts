// The admission webhook over real HTTPS (undici with the test CA): AdmissionReview in, JSONPatch out,
// the patch applied as the API server would; and hostile requests answered with precise 4xx.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { inject } from '../../injector/inject.ts';
import { defaultInjectOptions } from '../../injector/options.ts';
import { startWebhook, type Webhook } from '../../injector/webhook.ts';
import { createLogger } from '../../api/log.ts';
import { applyPatch } from './apply-patch.ts';
import { REPO, runMesh } from './run-mesh.ts';
import { selfSignedCert } from './self-signed.ts';
import { podSpec, workload } from './workloads.ts';
import { expand } from '../../examples/orders-checkout/runner/node/pod-env.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { StopFailures } from '../helpers/teardown.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.1`;
const cert = selfSignedCert([HOST, `${NET}.2`, '::1']);
const dispatcher = new Agent({ connect: { ca: cert.cert } });
const options = defaultInjectOptions({
  namespaceAnnotations: (ns) => (ns === 'auto' ? { 'linkerd.io/inject': 'enabled', 'config.linkerd.io/proxy-log-level': 'debug' } : undefined),
});
const logs: any[] = [];
let webhook: Webhook;

beforeAll(async () => {
  const logger = createLogger('injector', { level: 'debug', destination: { write: (line: string) => void logs.push(JSON.parse(line)) } });
  webhook = await startWebhook({ cert: cert.cert, key: cert.key, host: HOST, port: 0, inject: options, logger, maxBodyBytes: 64 * 1024 });
});
// Each part is stopped even when an earlier one failed to start or to stop.
afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('webhook', () => webhook?.close());
  await failures.attempt('client', () => dispatcher.close());
  rmSync(cert.dir, { recursive: true, force: true });
  failures.throwIfAny('webhook teardown');
});

function review(object: unknown, extra: Record<string, unknown> = {}) {
  const kind = (object as { kind?: string } | null)?.kind ?? 'Pod';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'e911857d-c318-11e8-bbad-025000000001', kind: { group: '', version: 'v1', kind }, operation: 'CREATE', namespace: 'production', object, ...extra },
  };
}

/** The URL a `mesh injector serve` process logs once it listens (its JSON log's `url`); rejects if it exits first. */
function webhookUrl(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /"url":"(https:[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('close', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

async function post(body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }, url = webhook.url) {
  const res = await request(url, { dispatcher, method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as any };
}

describe('webhook: admission reviews', () => {
  it('answers with a JSONPatch that injects the pod, as the CLI does', async () => {
    const pod = workload('Pod', { 'linkerd.io/inject': 'enabled' });
    const res = await post(review(pod));
    expect(res.status).toBe(200);
    const { response } = res.body;
    expect(res.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(response).toMatchObject({ uid: 'e911857d-c318-11e8-bbad-025000000001', allowed: true, patchType: 'JSONPatch' });
    const patched = applyPatch(pod, JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')));
    expect(patched).toEqual(inject(pod, options).object);

    // The same pod through `mesh inject` (a real process) comes out the same.
    const cli = await runMesh(['inject', '--only-annotated', '-'], JSON.stringify(pod));
    expect(cli.code).toBe(0);
    expect(parse(cli.stdout)).toEqual(patched);
  });

  it('uses the request namespace for a pod that names none, and that namespace\'s annotations', async () => {
    const pod = workload('Pod');
    delete pod.metadata.namespace;
    pod.metadata = { generateName: 'orders-7d9f-', labels: pod.metadata.labels };
    const { body } = await post(review(pod, { namespace: 'auto' }));
    const patched: any = applyPatch(pod, JSON.parse(Buffer.from(body.response.patch, 'base64').toString()));
    expect(patched.metadata.labels['linkerd.io/workload-ns']).toBe('auto');
    expect(patched.spec.containers[0].env.find((e: any) => e.name === 'MESH_LOG_LEVEL').value).toBe('debug');
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'injected', resource: 'pod/orders-7d9f-*', namespace: 'auto' }));
  });

  it('admits without a patch what it does not inject', async () => {
    for (const object of [workload('Deployment'), workload('Pod', { 'linkerd.io/inject': 'disabled' }), { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }]) {
      const { status, body } = await post(review(object));
      expect(status).toBe(200);
      expect(body.response).toEqual({ uid: 'e911857d-c318-11e8-bbad-025000000001', allowed: true });
    }
    const deleted = await post(review(null, { operation: 'DELETE' }));
    expect(deleted.body.response).toEqual({ uid: 'e911857d-c318-11e8-bbad-025000000001', allowed: true });
  });

  it('admits a workload it cannot inject, with a warning saying why', async () => {
    const broken = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'broken' }, spec: { containers: 'nope' } };
    const { status, body } = await post(review(broken));
    expect(status).toBe(200);
    expect(body.response).toEqual({
      uid: 'e911857d-c318-11e8-bbad-025000000001',
      allowed: true,
      warnings: ['mesh injector: not injected: pod/broken: spec.containers: must be a list, got \"nope\"'],
    });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'error', msg: 'not injected: pod/broken: spec.containers: must be a list, got \"nope\"' }));
  });

  it('survives an object nested too deep to walk', async () => {
    const depth = 30_000;
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const body = JSON.stringify(review({ kind: 'Pod', metadata: { name: 'deep', annotations: { 'linkerd.io/inject': 'enabled' } }, spec: { containers: [{ name: 'a', x: 0 }] } }));
    const { status, body: answer } = await post(body.replace('"x":0', `"x":${nested}`));
    expect(status).toBe(200);
    expect(answer.response).toMatchObject({ allowed: true, warnings: [expect.stringMatching(/^mesh injector: not injected: .*call stack/)] });
    expect((await post(review(workload('Pod')))).status).toBe(200);
  });

  it('passes override warnings to kubectl', async () => {
    const pod = workload('Pod', { 'linkerd.io/inject': 'enabled', 'config.linkerd.io/proxy-cpu-request': 'fast' }, podSpec());
    const { body } = await post(review(pod));
    expect(body.response.patchType).toBe('JSONPatch');
    expect(body.response.warnings).toEqual(['mesh injector: annotation config.linkerd.io/proxy-cpu-request="fast" ignored: expected a CPU quantity such as 100m or 1']);
  });
});

describe('webhook: a cluster\'s reviews', () => {
  it('answers an admission.k8s.io/v1beta1 review in v1beta1', async () => {
    const pod = workload('Pod', { 'linkerd.io/inject': 'enabled' });
    const res = await post({ ...review(pod), apiVersion: 'admission.k8s.io/v1beta1' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { allowed: true, patchType: 'JSONPatch' } });
  });

  it('asks for the namespace\'s annotations per review; a lookup that fails admits the pod, with a warning', async () => {
    const asked: string[] = [];
    const lookupNamespace = async (ns: string): Promise<Record<string, string>> => {
      asked.push(ns);
      if (ns === 'broken') throw new Error('namespaces "broken" is forbidden: User cannot get resource "namespaces"');
      return ns === 'annotated' ? { 'linkerd.io/inject': 'enabled' } : {};
    };
    const logger = createLogger('injector', { level: 'error', destination: { write: () => {} } });
    const hook = await startWebhook({ cert: cert.cert, key: cert.key, host: `${NET}.2`, port: 0, inject: options, logger, lookupNamespace });
    try {
      const bare = () => {
        const pod = workload('Pod');
        delete pod.metadata.namespace;
        return pod;
      };
      const injected = await post(review(bare(), { namespace: 'annotated' }), undefined, hook.url);
      expect(injected.body.response.patchType).toBe('JSONPatch');
      const plain = await post(review(bare(), { namespace: 'plain' }), undefined, hook.url);
      expect(plain.body.response).toEqual({ uid: 'e911857d-c318-11e8-bbad-025000000001', allowed: true });
      const broken = await post(review(bare(), { namespace: 'broken' }), undefined, hook.url);
      expect(broken.status).toBe(200);
      expect(broken.body.response.allowed).toBe(true);
      expect(broken.body.response.patch).toBeUndefined();
      expect(broken.body.response.warnings[0]).toMatch(/^mesh injector: namespace broken: its annotations could not be read \(.*forbidden.*\); only the pod's own decide$/);
      // The pod's own annotation still injects it when its namespace cannot be read.
      const own = await post(review(workload('Pod', { 'linkerd.io/inject': 'enabled' }), { namespace: 'broken' }), undefined, hook.url);
      expect(own.body.response.patchType).toBe('JSONPatch');
      expect(asked).toEqual(['annotated', 'plain', 'broken', 'broken']);
    } finally {
      await hook.close();
    }
  });
});

describe('webhook: a namespace lookup that hangs', () => {
  it('answers within the lookup timeout, admitting the pod with a warning, before the API server gives up on the webhook', async () => {
    const logger = createLogger('injector', { level: 'error', destination: { write: () => {} } });
    const hook = await startWebhook({
      cert: cert.cert, key: cert.key, host: `${NET}.2`, port: 0, inject: options, logger,
      lookupNamespace: () => new Promise(() => {}), // an API server that never answers
      lookupTimeoutMs: 200,
    });
    try {
      const res = await post(review(workload('Pod', { 'linkerd.io/inject': 'enabled' }), { namespace: 'hung' }), undefined, hook.url);
      expect(res.status).toBe(200);
      expect(res.body.response.patchType).toBe('JSONPatch'); // the pod's own annotation still decides
      expect(res.body.response.warnings[0]).toMatch(/^mesh injector: namespace hung: its annotations could not be read \(the API server did not answer within 200 ms\)/);
    } finally {
      await hook.close();
    }
  });
});

describe('webhook: hostile requests', () => {
  it('answers bad reviews with a 400 naming the problem', async () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{"apiVersion": ', /^body is not JSON: /],
      ['[1,2]', /^body: expected an AdmissionReview object$/],
      [{ ...review({}), apiVersion: 'admission.k8s.io/v2' }, /^apiVersion: expected admission.k8s.io\/v1 or admission.k8s.io\/v1beta1, got "admission.k8s.io\/v2"/],
      [{ ...review({}), kind: 'Pod' }, /^kind: expected AdmissionReview, got "Pod"$/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /^request: missing or not an object$/],
      [review({}, { uid: undefined }), /^request.uid: missing or not a non-empty string$/],
      [review({}, { uid: '' }), /^request.uid: missing/],
      [review({}, { operation: 7 }), /^request.operation: missing or not a string$/],
      [review([1]), /^request.object: expected an object or null$/],
    ];
    for (const [body, message] of cases) {
      const res = await post(body);
      expect(res.status, String(message)).toBe(400);
      expect(res.body.code).toBe('BAD_REVIEW');
      expect(res.body.error).toMatch(message);
    }
  });

  it('refuses wrong methods, paths and media types', async () => {
    const get = await request(webhook.url, { dispatcher });
    expect([get.statusCode, get.headers.allow, ((await get.body.json()) as any).code]).toEqual([405, 'POST', 'METHOD_NOT_ALLOWED']);
    const other = await post(review({}), undefined, webhook.url.replace('/inject', '/mutate'));
    expect([other.status, other.body.error]).toEqual([404, 'no such path /mutate; AdmissionReviews go to POST /inject']);
    const text = await post(review({}), { 'content-type': 'text/plain' });
    expect([text.status, text.body.error]).toEqual([415, 'content-type "text/plain": expected application/json']);
    const ready = await request(webhook.url.replace('/inject', '/ready'), { dispatcher });
    expect(ready.statusCode).toBe(200);
    await ready.body.dump();
  });

  it('answers oversized bodies with a 413, whether declared or streamed', async () => {
    const big = JSON.stringify(review({ kind: 'Pod', padding: 'x'.repeat(100 * 1024) }));
    const declared = await post(big);
    expect([declared.status, declared.body.error]).toEqual([413, 'body exceeds the limit of 65536 bytes']);
    const huge = await post('x'.repeat(300 * 1024)); // over 4x the limit: refused before reading
    expect(huge.status).toBe(413);
    async function* chunks() {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(8 * 1024, 'x');
    }
    const streamed = await request(webhook.url, { dispatcher, method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from(chunks()) });
    expect([streamed.statusCode, ((await streamed.body.json()) as any).code]).toEqual([413, 'BODY_TOO_LARGE']);
    // The server is still fine afterwards.
    expect((await post(review(workload('Pod')))).status).toBe(200);
  });
});

describe('webhook: a client that vanishes mid-body', () => {
  it('logs a warning naming the problem, and keeps serving', async () => {
    const { connect } = await import('node:tls');
    const before = logs.length;
    const socket = connect({ host: HOST, port: webhook.address.port, ca: cert.cert });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.write('POST /inject HTTP/1.1\r\nhost: injector\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"apiVersion":');
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    const deadline = Date.now() + 5_000;
    while (!logs.slice(before).some((l) => l.code === 'BODY_INCOMPLETE') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(logs.slice(before)).toContainEqual(expect.objectContaining({ level: 'warn', code: 'BODY_INCOMPLETE', msg: 'rejected request: body ended after 14 of 1000 bytes: aborted' }));
    expect(logs.slice(before).filter((l) => l.level >= 50)).toEqual([]);
    expect((await post(review(workload('Pod')))).status).toBe(200);
  });
});

describe('mesh injector serve', () => {
  it('serves the webhook as a process and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['bin/mesh.js', 'injector', 'serve', '--cert', cert.certFile, '--key', cert.keyFile, '--addr', `${NET}.2:0`], { cwd: REPO });
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      const url = await webhookUrl(child);
      const res = await post(review(workload('Pod', { 'linkerd.io/inject': 'ingress' })), undefined, url);
      const patched: any = applyPatch(workload('Pod', { 'linkerd.io/inject': 'ingress' }), JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString()));
      expect(patched.spec.containers[0].command).toEqual(['mesh', 'proxy', '--ingress']);
    } finally {
      // A failed expectation above must not leave the webhook process running.
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('on an IPv6 address, gives the apps of IPv6 pods a proxy URL with the pod IP in brackets', async () => {
    // In a cluster --addr is `$(MESH_POD_IP):8443`: an IPv6 pod's address comes without brackets.
    const child = spawn(process.execPath, ['bin/mesh.js', 'injector', 'serve', '--cert', cert.certFile, '--key', cert.keyFile, '--addr', '::1:0'], { cwd: REPO });
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      const url = await webhookUrl(child);
      expect(url).toMatch(/^https:\/\/\[::1\]:\d+\/inject$/);
      const pod = workload('Pod', { 'linkerd.io/inject': 'enabled' });
      const res = await post(review(pod), undefined, url);
      const patched: any = applyPatch(pod, JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString()));
      // The kubelet's substitution, with the address an IPv6 pod gets.
      const env: Record<string, string> = { POD_IP: 'fd00::5' };
      for (const e of patched.spec.containers[1].env) if (e.value !== undefined) env[e.name] = expand(e.value, env);
      for (const name of ['HTTP_PROXY', 'http_proxy', 'grpc_proxy']) {
        expect(env[name], name).toBe('http://[fd00::5]:4140');
        expect(new URL(env[name]!)).toMatchObject({ hostname: '[fd00::5]', port: '4140' });
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('with --pod-ips (its own status.podIPs, as mesh install passes them) of both families, injects pods as dual-stack', async () => {
    const args = ['bin/mesh.js', 'injector', 'serve', '--cert', cert.certFile, '--key', cert.keyFile, '--addr', `${NET}.2:0`, '--capture', 'iptables'];
    const child = spawn(process.execPath, [...args, '--pod-ips', `${NET}.2,fd00::2`], { cwd: REPO });
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      const url = await webhookUrl(child);
      const pod = workload('Pod', { 'linkerd.io/inject': 'enabled' });
      const res = await post(review(pod), undefined, url);
      const patched: any = applyPatch(pod, JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString()));
      expect(patched.spec.initContainers[0].command).toContain('--ipv6');
      expect(patched.spec.containers[0].env).toContainEqual({ name: 'MESH_POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const bad = await runMesh(['injector', 'serve', '--cert', cert.certFile, '--key', cert.keyFile, '--pod-ips', '10.0.0.7,10.0.0.8']);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'mesh injector serve: --pod-ips "10.0.0.7,10.0.0.8" is not one IP address, or two of different families (status.podIPs)']);
  });

  it('says what is missing or wrong in its arguments: a bad flag is a usage error (exit 2, as mesh inject says it), an unreadable file exits 1', async () => {
    const badFamily = await runMesh(['injector', 'serve', '--cert', cert.certFile, '--key', cert.keyFile, '--pod-ip-family', 'IPv5']);
    const familyLine = 'must be IPv4, IPv6, IPv4,IPv6 (dual-stack, IPv4 primary) or IPv6,IPv4 (dual-stack, IPv6 primary), got "IPv5"';
    expect([badFamily.code, badFamily.stderr.split('\n')[0]]).toEqual([2, `mesh injector serve: --pod-ip-family ${familyLine}`]);
    expect(badFamily.stderr).toContain('usage: mesh injector serve');
    // The same flag, the same value, the same exit code and sentence from `mesh inject`.
    const injectFamily = await runMesh(['inject', '-', '--pod-ip-family', 'IPv5']);
    expect([injectFamily.code, injectFamily.stderr.split('\n')[0]]).toEqual([2, `mesh inject: --pod-ip-family ${familyLine}`]);
    const noCert = await runMesh(['injector', 'serve']);
    expect([noCert.code, noCert.stderr.split('\n')[0]]).toEqual([2, 'mesh injector serve: --cert and --key are required']);
    const badAddr = await runMesh(['injector', 'serve', '--cert', cert.certFile, '--key', cert.keyFile, '--addr', 'localhost']);
    expect(badAddr.code).toBe(2);
    expect(badAddr.stderr).toContain('--addr "localhost" is not host:port (no port), such as 127.0.0.1:8080 or [fd00::5]:8080');
    const badCapture = await runMesh(['injector', 'serve', '--cert', cert.certFile, '--key', cert.keyFile, '--capture', 'ebpf']);
    expect([badCapture.code, badCapture.stderr.split('\n')[0]]).toEqual([2, 'mesh injector serve: --capture must be http-proxy or iptables, got "ebpf"']);
    const missing = await runMesh(['injector', 'serve', '--cert', '/nonexistent/tls.crt', '--key', cert.keyFile]);
    expect([missing.code, missing.stderr.trim()]).toEqual([1, "mesh injector serve: ENOENT: no such file or directory, open '/nonexistent/tls.crt'"]);
  });
});
