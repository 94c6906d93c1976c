// The runner's control socket (STATE/runner.sock, an HTTP server on a Unix socket only the user
// can reach): what `mesh rollout restart` asks of the running demo, as kubectl asks the API server.
import { chmodSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { Rollouts } from './rollout.ts';

export async function startControlServer(path: string, rollouts: Rollouts): Promise<{ close(): Promise<void> }> {
  rmSync(path, { force: true }); // a socket left by a runner that died
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://runner');
    // One Deployment (.../deployments/NAME/restart) or every one of the namespace (.../deployments/restart).
    const m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments(?:\/([^/]+))?\/restart$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${req.method} ${url.pathname} (try POST /apis/apps/v1/namespaces/NS/deployments/NAME/restart, or .../deployments/restart for all)\n`);
      return;
    }
    let namespace: string;
    let name: string | undefined;
    try {
      namespace = decodeURIComponent(m[1]!);
      name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad escape in ${url.pathname}\n`);
      return;
    }
    // Progress streams as lines; the last line says how it ended (the status is sent before we know).
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    const say = (line: string) => res.write(`${line}\n`);
    const done = name === undefined ? rollouts.restartAll(namespace, say) : rollouts.restart(namespace, name, say);
    done.then(
      () => res.end('OK\n'),
      (err: Error & { code?: string }) => res.end(`ERROR ${err.code ?? 'FAILED'}: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
      rmSync(path, { force: true });
    }),
  };
}
