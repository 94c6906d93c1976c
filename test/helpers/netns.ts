// Network namespaces a test creates and deletes: pods joined by a bridge in a hub namespace,
// addresses 10.237.0.N/24 that exist nowhere else; the hub has no link out, so no packet can leave. Needs root (CI
// runs as root): creating them fails loudly, never skips. Deleting a namespace deletes its
// interfaces and its iptables rules with it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { processAlive } from '../../examples/orders-checkout/runner/process-identity.ts';

export const SUBNET = '10.237.0';

/** `ip`'s own path, found once: a test may run a command with a PATH that has no `ip` on it. */
const IP = spawnSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8' }).stdout.trim() || 'ip';

/** The environment without proxy variables: what runs in a pod knows nothing of the mesh (curl would obey http_proxy). */
export function withoutProxyVariables(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^(https?|grpc|no|all)_proxy$/i.test(k)));
}

export interface Ran {
  code: number;
  out: string;
  err: string;
}

export interface RunOptions {
  /** Run as this UID (and GID), with no supplementary groups: an app, or the proxy's user. */
  uid?: number;
  env?: NodeJS.ProcessEnv;
  /** Extra setpriv flags, e.g. to drop a capability. */
  setpriv?: string[];
}

export class NetnsLab {
  readonly hub: string;
  readonly pods: Array<{ ns: string; ip: string }> = [];
  private readonly children = new Set<ChildProcess>();

  private constructor(private readonly prefix: string) {
    this.hub = `${prefix}-hub`;
  }

  /** `count` pod namespaces on one bridge; pod i has address 10.237.0.(i+1); the hub has .254. */
  static create(count: number): NetnsLab {
    sweepOrphans();
    const lab = new NetnsLab(`mesh-${process.pid}-${randomBytes(2).toString('hex')}`);
    // A test that dies before its afterAll still deletes what it made.
    process.once('exit', () => lab.close());
    try {
      lab.ip('netns', 'add', lab.hub);
      lab.in(lab.hub, 'ip', 'link', 'set', 'lo', 'up');
      lab.in(lab.hub, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
      lab.in(lab.hub, 'ip', 'addr', 'add', `${SUBNET}.254/24`, 'dev', 'br0');
      lab.in(lab.hub, 'ip', 'link', 'set', 'br0', 'up');
      for (let i = 0; i < count; i++) {
        const ns = `${lab.prefix}-${i}`;
        const ip = `${SUBNET}.${i + 1}`;
        lab.ip('netns', 'add', ns);
        lab.pods.push({ ns, ip });
        // Both ends are made in the hub, then one moves into the pod: nothing touches the host's namespace.
        lab.in(lab.hub, 'ip', 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
        lab.in(lab.hub, 'ip', 'link', 'set', `v${i}`, 'master', 'br0', 'up');
        lab.in(ns, 'ip', 'link', 'set', 'lo', 'up');
        lab.in(ns, 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
        lab.in(ns, 'ip', 'link', 'set', 'eth0', 'up');
        // As in a cluster, a default route: a Service's virtual address is on no link, and without
        // a route connect() fails before iptables sees the packet. The hub forwards nowhere.
        lab.in(ns, 'ip', 'route', 'add', 'default', 'via', `${SUBNET}.254`);
      }
    } catch (err) {
      lab.close();
      throw err;
    }
    return lab;
  }

  /** Runs `argv` in `ns` to its end (output read until 'close'). */
  run(ns: string, argv: string[], opts: RunOptions = {}): Promise<Ran> {
    const child = this.spawn(ns, argv, opts);
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out, err })));
  }

  /**
   * Gives `ns`'s eth0 the IPv6 address `ip` (/64, the pods' shared link), usable at once: `nodad`
   * skips duplicate address detection, during which the address could not yet be bound.
   */
  addIpv6(ns: string, ip: string): void {
    this.in(ns, 'ip', '-6', 'addr', 'add', `${ip}/64`, 'dev', 'eth0', 'nodad');
  }

  /** Starts `argv` in `ns`; stopped by close() if still running. */
  spawn(ns: string, argv: string[], opts: RunOptions = {}): ChildProcess {
    const as = opts.uid === undefined && !opts.setpriv ? [] : ['setpriv', ...(opts.uid === undefined ? [] : [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups']), ...(opts.setpriv ?? []), '--'];
    const child = spawn(IP, ['netns', 'exec', ns, ...as, ...argv], { env: opts.env ?? withoutProxyVariables(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('close', () => this.children.delete(child));
    child.on('error', (err) => child.stderr!.emit('data', `cannot start ip netns exec: ${err.message}`));
    return child;
  }

  /** Stops what it started (by PID) and deletes every namespace it made. Safe to call twice. */
  close(): void {
    for (const child of this.children) if (child.exitCode === null && child.pid) child.kill('SIGKILL');
    this.children.clear();
    for (const ns of [...this.pods.map((p) => p.ns), this.hub]) spawnSync(IP, ['netns', 'del', ns], { stdio: 'ignore' });
    this.pods.length = 0;
  }

  /** close(), then the namespaces of this lab that still exist: a test's last check, that it left none. */
  closeAndFindLeftovers(): string[] {
    this.close();
    return NetnsLab.leftovers(this.prefix);
  }

  /** Namespaces of this lab that still exist (a test checks that close() left none). */
  static leftovers(prefix: string): string[] {
    const listed = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8' }).stdout;
    return listed.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(prefix));
  }

  /** The hub's address on the bridge: where a test puts what every pod reaches (the control plane). */
  get hubIp(): string {
    return `${SUBNET}.254`;
  }

  get name(): string {
    return this.prefix;
  }

  private in(ns: string, ...argv: string[]): void {
    this.ip('netns', 'exec', ns, ...argv);
  }

  private ip(...args: string[]): void {
    const r = spawnSync(IP, args, { encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(`network namespace set-up failed (root is needed; CI runs as root): ip ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
    }
  }
}

/** Namespaces of labs whose process is gone (killed before it could clean up): deleted. */
function sweepOrphans(): void {
  const listed = spawnSync(IP, ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const name of listed.split('\n').map((l) => l.split(' ')[0]!)) {
    const pid = /^mesh-(\d+)-[0-9a-f]{4}-/.exec(name)?.[1];
    if (pid === undefined || processAlive(Number(pid))) continue;
    spawnSync(IP, ['netns', 'del', name], { stdio: 'ignore' });
  }
}


/** A TCP server (node, in a namespace) that answers every connection with `<name> <local address>` and closes. */
export function tagServer(name: string, listen: Array<[string, number]>): string[] {
  const script = `
    const net = require('node:net');
    const list = ${JSON.stringify(listen)};
    let up = 0;
    for (const [host, port] of list) {
      net.createServer((s) => { s.on('error', () => {}); s.end('${name} ' + s.localAddress + ':' + s.localPort + '\\n'); })
        .listen(port, host, () => { if (++up === list.length) console.log('ready'); });
    }`;
  return [process.execPath, '-e', script];
}

/** A client that knows nothing of proxies: connects, sends `send` if given, prints what it reads, exits. */
export function tagClient(host: string, port: number, send?: string): string[] {
  const script = `
    const s = require('node:net').connect(${port}, '${host}');
    ${send === undefined ? '' : `s.write(${JSON.stringify(send)});`}
    let got = '';
    s.setEncoding('utf8').on('data', (d) => (got += d)).on('end', () => process.stdout.write(got));
    s.on('error', (e) => { console.error(e.message); process.exit(3); });
    setTimeout(() => { console.error('no answer'); process.exit(4); }, 20000).unref();`;
  return [process.execPath, '-e', script];
}

/** Resolves once `child` prints `ready`; rejects with its output if it exits first. */
export function ready(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout!.setEncoding('utf8').on('data', (d: string) => d.includes('ready') && resolve());
    child.on('close', (code) => reject(new Error(`${what} exited (${code}) before it was ready: ${err.trim()}`)));
  });
}
