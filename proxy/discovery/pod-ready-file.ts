// This pod's Ready condition, read from the file the kubelet keeps it in (`true` or `false`),
// as a downward-API volume carries pod facts into a container. Watched, with a once-a-second
// re-read as a safety net (a watch can miss a rename), so a change is seen within a second at worst.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { Watched, type Unsubscribe } from './watched.ts';

export class PodReadyFile {
  private readonly state: Watched<boolean>;
  private watcher?: FSWatcher;
  private readonly poll: NodeJS.Timeout;
  private complained = false;

  constructor(private readonly path: string, private readonly logger: Logger) {
    this.state = new Watched(this.read() ?? false);
    try {
      this.watcher = watch(dirname(path), (_event, name) => {
        if (name === null || name === basename(path)) this.check();
      });
      this.watcher.on('error', () => this.watcher?.close());
      this.watcher.unref();
    } catch (err) {
      logger.warn({ file: path, err: (err as Error).message }, 'cannot watch the pod ready file; re-reading it every second');
    }
    this.poll = setInterval(() => this.check(), 1000);
    this.poll.unref();
  }

  get ready(): boolean {
    return this.state.get()!;
  }

  onChange(listener: (ready: boolean) => void): Unsubscribe {
    return this.state.subscribe(listener);
  }

  close(): void {
    clearInterval(this.poll);
    this.watcher?.close();
  }

  private check(): void {
    const now = this.read();
    if (now === undefined || now === this.ready) return;
    this.logger.info({ file: this.path, ready: now }, now ? 'pod is Ready' : 'pod is not Ready');
    this.state.set(now);
  }

  /** true/false, or undefined while the file is missing or holds something else (the last value stays). */
  private read(): boolean | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8').trim();
    } catch {
      return undefined;
    }
    if (text === 'true' || text === 'false') return text === 'true';
    if (!this.complained) this.logger.warn({ file: this.path, content: text.slice(0, 40) }, 'pod ready file holds neither "true" nor "false"; keeping the last value');
    this.complained = true;
    return undefined;
  }
}
