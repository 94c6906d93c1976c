// Development mode: a Resolver answered from a YAML or JSON file instead of the destination
// service. The file is watched; a good edit updates every live cell, a bad one is logged and
// refused, and the last good state stays in force.
import { readFileSync, watch, watchFile, unwatchFile, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { createLogger } from '../../api/log.ts';
import { parseStaticFile, StaticFileError, type StaticFile, type StaticService } from './static-file.ts';
import type { EndpointSet, InboundPolicy, Profile } from '../../api/destination-types.ts';
import type { Resolver } from './resolver.ts';
import { Watched } from './watched.ts';

export interface StaticResolverOptions {
  /** The proxy's namespace: short names (`orders:8080`, `orders.production:8080`) resolve against it. */
  namespace?: string;
  /** Default `cluster.local`. */
  clusterDomain?: string;
  logger?: Logger;
  /** Wait this long after a change event before reading, so an editor's write completes (default 50 ms). */
  debounceMs?: number;
}

export class StaticResolver implements Resolver {
  readonly file: string;
  private state: StaticFile;
  private readonly endpointCells = new Map<string, Watched<EndpointSet>>();
  private readonly profileCells = new Map<string, Watched<Profile>>();
  private readonly policyCells = new Map<number, Watched<InboundPolicy>>();
  private readonly logger: Logger;
  private readonly domain: string;
  private watcher: FSWatcher | undefined;
  private polling = false;
  private debounce: NodeJS.Timeout | undefined;
  /** Reloads that changed the state, for tests and logs. */
  generation = 0;

  /** Reads the file now; throws StaticFileError (naming file and field) if it is bad. */
  constructor(
    file: string,
    private readonly options: StaticResolverOptions = {},
  ) {
    this.file = resolve(file);
    this.logger = options.logger ?? createLogger('static-resolver');
    this.domain = options.clusterDomain ?? 'cluster.local';
    this.state = this.read();
    this.watch();
  }

  endpoints(authority: string): Watched<EndpointSet> {
    const key = normalise(authority);
    let cell = this.endpointCells.get(key);
    if (!cell) this.endpointCells.set(key, (cell = new Watched(this.endpointsOf(key))));
    return cell;
  }

  profile(authority: string): Watched<Profile> {
    const key = normalise(authority);
    let cell = this.profileCells.get(key);
    if (!cell) this.profileCells.set(key, (cell = new Watched(this.profileOf(key))));
    return cell;
  }

  inboundPolicy(port: number): Watched<InboundPolicy> {
    let cell = this.policyCells.get(port);
    if (!cell) this.policyCells.set(port, (cell = new Watched(this.policyOf(port))));
    return cell;
  }

  close(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
    if (this.polling) unwatchFile(this.file);
    this.polling = false;
  }

  /** Re-reads the file; on success updates the cells whose answer changed. Returns whether it loaded. */
  reload(): boolean {
    let next: StaticFile;
    try {
      next = this.read();
    } catch (err) {
      this.logger.error({ err, file: this.file }, `static endpoints file rejected, keeping the last good state: ${(err as Error).message}`);
      return false;
    }
    this.state = next;
    this.generation++;
    for (const [key, cell] of this.endpointCells) setIfChanged(cell, this.endpointsOf(key));
    for (const [key, cell] of this.profileCells) setIfChanged(cell, this.profileOf(key));
    for (const [port, cell] of this.policyCells) setIfChanged(cell, this.policyOf(port));
    this.logger.info({ file: this.file, services: next.services.size }, 'static endpoints file loaded');
    return true;
  }

  private read(): StaticFile {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      throw new StaticFileError(`${this.file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    return parseStaticFile(this.file, text);
  }

  private watch(): void {
    const onChange = (): void => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.reload(), this.options.debounceMs ?? 50);
      this.debounce.unref();
    };
    try {
      // Watch the folder, not the file: editors and `mv` replace the file, which ends a file watch.
      const name = basename(this.file);
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name) onChange();
      });
      this.watcher.on('error', (err) => this.logger.warn({ err, file: this.file }, 'watching the static endpoints file failed'));
    } catch (err) {
      // inotify can run out of watches: fall back to polling the file's mtime.
      this.logger.warn({ err, file: this.file }, 'cannot watch the static endpoints file folder; polling it every second');
      this.polling = true;
      watchFile(this.file, { interval: 1000, persistent: false }, onChange);
    }
  }

  private lookup(key: string): { authority: string; service: StaticService } | undefined {
    for (const candidate of this.candidates(key)) {
      const service = this.state.services.get(candidate);
      if (service) return { authority: candidate, service };
    }
    return undefined;
  }

  /** The name as given, then the Kubernetes search-path expansions of a short name. */
  private candidates(key: string): string[] {
    const colon = key.lastIndexOf(':');
    const host = key.slice(0, colon);
    const port = key.slice(colon);
    const labels = host.split('.');
    const out = [key];
    const ns = this.options.namespace;
    if (labels.length === 1 && ns) out.push(`${host}.${ns}.svc.${this.domain}${port}`);
    if (labels.length === 2) out.push(`${host}.svc.${this.domain}${port}`);
    if (labels.length === 3 && labels[2] === 'svc') out.push(`${host}.${this.domain}${port}`);
    return out;
  }

  private endpointsOf(key: string): EndpointSet {
    const found = this.lookup(key);
    // Not in the file: outbound forwards to the authority as named.
    return found ? { kind: 'endpoints', endpoints: found.service.endpoints } : { kind: 'unknown' };
  }

  private profileOf(key: string): Profile {
    const found = this.lookup(key);
    const fqdn = (found?.authority ?? key).replace(/:\d+$/, '');
    const p = found?.service.profile;
    return { fqdn, routes: p?.routes ?? [], httpRoutes: p?.httpRoutes ?? [], ...(p?.retryBudget ? { retryBudget: p.retryBudget } : {}) };
  }

  private policyOf(port: number): InboundPolicy {
    const p = this.state.ports.get(port);
    if (p) return { port, ...p };
    return { port, authorizations: [], defaultPolicy: this.state.defaultPolicy, clusterNetworks: this.state.clusterNetworks };
  }
}

/** Lower-case `host:port`, port 80 when left out, no trailing dot. */
function normalise(authority: string): string {
  const m = /^(.*?)\.?(?::(\d+))?$/.exec(authority.trim().toLowerCase());
  return `${m![1]}:${m![2] ?? 80}`;
}

function setIfChanged<T>(cell: Watched<T>, value: T): void {
  if (JSON.stringify(cell.get()) !== JSON.stringify(value)) cell.set(value);
}
