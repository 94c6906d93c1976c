// `mesh proxy-await`: waits until the proxy beside it is ready. The injector makes it the proxy
// container's postStart hook, and the kubelet starts the app only after the hook returns, so the
// app's first request finds a proxy that can route it (Linkerd's linkerd-await).
import { request } from 'node:http';
import { HostPortError, joinHostPort, splitHostPort } from '../../api/host-port.ts';
import { durationFlag, parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'wait until the proxy of this pod is ready (the injected postStart hook)';

const USAGE = `usage: mesh proxy-await [--timeout 2m] [--addr HOST:PORT]
  --timeout D    give up after this long, exit 1 (default 2m)
  --addr A       the proxy's admin address (default $MESH_POD_IP:$MESH_PROXY_ADMIN_PORT, else 127.0.0.1:4191)`;

const OPTIONS = { timeout: { type: 'string', default: '2m' }, addr: { type: 'string' } } as const;

export function run(args: string[]): Promise<number> {
  return runCommand('proxy-await', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS);
    const timeoutMs = durationFlag(values.timeout, '--timeout');
    // An IPv6 pod's MESH_POD_IP has no brackets, and a URL needs them: split, then join.
    const text = values.addr ?? `${process.env.MESH_POD_IP || '127.0.0.1'}:${process.env.MESH_PROXY_ADMIN_PORT || '4191'}`;
    let admin;
    try {
      admin = splitHostPort(text, values.addr !== undefined ? '--addr' : 'MESH_POD_IP:MESH_PROXY_ADMIN_PORT');
    } catch (err) {
      if (!(err instanceof HostPortError)) throw err;
      console.error(`mesh proxy-await: ${err.message}`);
      return 2;
    }
    const url = `http://${joinHostPort(admin.host, admin.port)}/ready`;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      last = await ready(url);
      if (last === 'ready') return 0;
      await new Promise((r) => setTimeout(r, 200));
    }
    console.error(`mesh proxy-await: the proxy at ${url} was not ready within ${values.timeout} (last: ${last})`);
    return 1;
  });
}

/** `ready`, or what the admin server said instead. */
function ready(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? 'ready' : `HTTP ${res.statusCode}`));
      res.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 1 s')));
    req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? err.message));
    req.end();
  });
}
