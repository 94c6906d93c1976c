// This pod's Ready condition, read from the file the kubelet keeps it in (`true` or `false`),
// as a downward-API volume carries pod facts into a container. Watched, with a once-a-second
// re-read as a safety net (a watch can miss a rename), so a change is seen within a second at worst.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';

export class PodReadyFile {
  private value: boolean;
  private readonly listeners = new Set<(ready: boolean) => void>();
  private watcher?: FSWatcher;
  private readonly poll: NodeJS.Timeout;
  private complained = false;

  constructor(private readonly path: string, private readonly logger: Logger) {
    this.value = this.read() ?? false;
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
    return this.value;
  }

  onChange(listener: (ready: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.poll);
    this.watcher?.close();
  }

  private check(): void {
    const now = this.read();
    if (now === undefined || now === this.value) return;
    this.value = now;
    this.logger.info({ file: this.path, ready: now }, now ? 'pod is Ready' : 'pod is not Ready');
    for (const l of this.listeners) l(now);
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
