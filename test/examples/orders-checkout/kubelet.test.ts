// The runner as kubelet, with real processes: restartPolicy Always with the back-off doubling
// (shortened here), the pod's Ready condition from its containers' probes (written to the file
// its sidecar reads), a failed liveness probe restarting the container, a startup probe holding
// liveness off while a slow app starts, and a graceful delete.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KUBERNETES_BACKOFF, RestartBackoff } from '../../../examples/orders-checkout/runner/backoff.ts';
import { Kubelet } from '../../../examples/orders-checkout/runner/kubelet.ts';
import { Supervisor } from '../../../examples/orders-checkout/runner/supervisor.ts';
import type { ProcessSpec } from '../../../examples/orders-checkout/runner/topology.ts';

const dir = mkdtempSync(join(tmpdir(), 'kubelet-'));
const root = join(import.meta.dirname, '../../..');
const supervisor = new Supervisor(root, dir, () => {}, { initialMs: 300, maxMs: 1200, resetAfterMs: 60_000 });
supervisor.keepRunning();
const lines: string[] = [];
const kubelet = new Kubelet(supervisor, (l) => lines.push(l));
afterAll(async () => {
  kubelet.stopProbes();
  await supervisor.stopAll(2000);
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
  await new Promise((r) => s.close(r));
  return port;
}

/** A tiny app: /healthz answers 200 until POST /sick, then 500; POST /exit ends the process. */
const app = (port: number) => `require('node:http').createServer((q, s) => {
  if (q.method === 'POST' && q.url === '/sick') { globalThis.sick = true; return s.end(); }
  if (q.method === 'POST' && q.url === '/exit') { s.end(); return process.exit(3); }
  s.writeHead(q.url === '/healthz' && !globalThis.sick ? 200 : 500).end();
}).listen(${port}, '127.0.0.1');`;

const post = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST' }).then((r) => r.arrayBuffer()).catch(() => undefined);

describe('back-off', () => {
  it('is Kubernetes\'s: 10 s, doubling to 5 min, back to 10 s after 10 min of running', () => {
    const b = new RestartBackoff(KUBERNETES_BACKOFF);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => b.delayAfter(1000) / 1000)).toEqual([10, 20, 40, 80, 160, 300, 300, 300]);
    expect(b.delayAfter(600_000)).toBe(10_000);
    expect(b.delayAfter(1000)).toBe(20_000);
  });
});

describe('a pod run by the kubelet', () => {
  it('is Ready when its container is; a failed liveness probe restarts it; an exit restarts it after the back-off', async () => {
    const port = await freePort();
    const probe = { kind: 'httpGet' as const, path: '/healthz', port, scheme: 'HTTP' as const, headers: [] };
    const spec: ProcessSpec = {
      name: 'web-0', role: 'app', command: ['node', '-e', app(port)], env: {}, listens: [],
      probes: {
        readiness: { action: probe, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 1 },
        liveness: { action: probe, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 2 },
      },
    };
    const readyFile = join(dir, 'pods', 'web-0.ready');
    const pod = kubelet.runPod({ name: 'web-0', namespace: 'test', ip: '127.0.0.1', readyFile }, [spec]);
    const container = pod.containers[0]!;
    expect(readFileSync(readyFile, 'utf8')).toBe('false\n');
    await kubelet.whenReady(pod, Date.now() + 15_000);
    expect(readFileSync(readyFile, 'utf8')).toBe('true\n');
    const firstPid = container.process.child.pid;

    // Sick: readiness fails at once (threshold 1), liveness after two failures restarts it.
    await post(port, '/sick');
    await expect.poll(() => pod.ready, { timeout: 5_000 }).toBe(false);
    expect(readFileSync(readyFile, 'utf8')).toBe('false\n');
    await expect.poll(() => container.process.restarts, { timeout: 10_000 }).toBe(1);
    expect(container.process.child.pid).not.toBe(firstPid);
    expect(lines.some((l) => l.includes('failed its liveness probe'))).toBe(true);
    await kubelet.whenReady(pod, Date.now() + 15_000);

    // Two exits in a row: restarted after 300 ms, then after 600 ms (the back-off doubles).
    const gaps: number[] = [];
    for (const expected of [2, 3]) {
      await kubelet.whenReady(pod, Date.now() + 15_000);
      await post(port, '/exit');
      await expect.poll(() => container.process.exited !== undefined, { timeout: 5_000 }).toBe(true);
      const exitedAt = Date.now();
      await expect.poll(() => container.process.restarts, { timeout: 10_000 }).toBe(expected);
      gaps.push(container.process.startedAtMs - exitedAt);
    }
    expect(container.process.lastExit).toEqual({ code: 3, signal: null });
    expect(gaps[1]! - gaps[0]!).toBeGreaterThan(150); // 600 ms vs 300 ms, with slack for a busy machine
    await kubelet.whenReady(pod, Date.now() + 15_000);

    await kubelet.deletePod(pod, 2000);
    expect(kubelet.pod('web-0')).toBeUndefined();
    expect(readFileSync(readyFile, 'utf8')).toBe('false\n');
    expect(() => process.kill(container.process.child.pid!, 0)).toThrow();
  }, 60_000);
});

describe('a pod whose app is slow to start', () => {
  /** The app above, listening only `delayMs` after its process starts (a large app loading on a busy machine). */
  const slowApp = (port: number, delayMs: number) => `setTimeout(() => { ${app(port)} }, ${delayMs});`;
  const every1s = (port: number, failureThreshold: number) => ({
    action: { kind: 'httpGet' as const, path: '/healthz', port, scheme: 'HTTP' as const, headers: [] },
    initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold,
  });
  const slowPod = async (name: string, startupFailureThreshold?: number) => {
    const port = await freePort();
    const spec: ProcessSpec = {
      name, role: 'app', command: ['node', '-e', slowApp(port, 4000)], env: {}, listens: [],
      probes: {
        readiness: every1s(port, 1),
        liveness: every1s(port, 1),
        ...(startupFailureThreshold === undefined ? {} : { startup: every1s(port, startupFailureThreshold) }),
      },
    };
    return kubelet.runPod({ name, namespace: 'test', ip: '127.0.0.1' }, [spec]);
  };

  it('is restarted by liveness alone before it ever listens: what the demo\'s apps met on two busy cores', async () => {
    const pod = await slowPod('slow-liveness-0');
    await expect.poll(() => pod.containers[0]!.process.restarts, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith('pod slow-liveness-0: container slow-liveness-0 failed its liveness probe'))).toBe(true);
    await kubelet.deletePod(pod, 2000);
  }, 30_000);

  it('with a startup probe, starts and becomes Ready untouched: liveness waits until the startup probe passes', async () => {
    const pod = await slowPod('slow-startup-0', 30);
    await kubelet.whenReady(pod, Date.now() + 25_000);
    expect(pod.containers[0]!.process.restarts).toBe(0);
    expect(pod.containers[0]!.started).toBe(true);
    expect(lines.some((l) => l.startsWith('pod slow-startup-0:'))).toBe(false);
    await kubelet.deletePod(pod, 2000);
  }, 40_000);

  it('is restarted when its startup probe fails more often than it allows', async () => {
    const pod = await slowPod('slow-startup-1', 2);
    await expect.poll(() => pod.containers[0]!.process.restarts, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith('pod slow-startup-1: container slow-startup-1 failed its startup probe'))).toBe(true);
    await kubelet.deletePod(pod, 2000);
  }, 30_000);
});
