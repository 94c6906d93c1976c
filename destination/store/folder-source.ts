// The folder of YAML as a document source: every file below it, re-read after any file event.
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { DocumentGroup, DocumentSource } from './document-source.ts';
import { listResourceFiles, readDocuments } from './folder-reader.ts';

export class FolderSource implements DocumentSource {
  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  read(): DocumentGroup[] {
    const groups: DocumentGroup[] = [];
    for (const full of listResourceFiles(this.dir)) {
      const { docs, problem } = readDocuments(this.dir, full);
      const origin = problem?.file ?? docs[0]?.file ?? full.slice(this.dir.length + 1);
      groups.push({ origin, label: join(this.dir, origin), docs, problem });
    }
    return groups;
  }

  /**
   * Calls `onChange` after any change below the folder: a file written, replaced, added, removed
   * or renamed, in the folder or any folder under it.
   *
   * Each folder is watched on its own, not the files in it. Editors and `sed -i` save by writing
   * a new file and renaming it over the old one, and a watch on a file follows its inode, which
   * that rename leaves behind: every later save of the same file would go unseen. Node 20's
   * `recursive` watch on Linux watches each file, so it misses them too. A watch on a folder
   * sees the rename into it and every write to any file in it. Folders that appear are watched
   * from the change that shows them; folders that go are dropped.
   */
  watch(onChange: () => void): () => void {
    const single = statSync(this.dir, { throwIfNoEntry: false })?.isFile() ?? false;
    const watchers = new Map<string, FSWatcher>();
    const sync = () => {
      const wanted = new Set(single ? [dirname(this.dir)] : foldersBelow(this.dir));
      for (const [folder, watcher] of watchers) {
        if (!wanted.has(folder)) { watcher.close(); watchers.delete(folder); }
      }
      for (const folder of wanted) {
        if (watchers.has(folder)) continue;
        try {
          const watcher = watch(folder, () => { if (!single) sync(); onChange(); });
          watcher.on('error', (err) => this.logger.error({ err, dir: folder }, 'resource folder watch failed: edits in it are not seen until the destination restarts'));
          watchers.set(folder, watcher);
        } catch (err) {
          // A folder below may go between the listing and the watch: the change that removed it
          // is being handled. The folder itself not being watchable is worth saying.
          if (folder === this.dir || single) this.logger.error({ err, dir: folder }, 'cannot watch the resource folder: edits are not seen until the destination restarts');
        }
      }
    };
    sync();
    return () => {
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    };
  }
}

/** The folder and every folder under it, skipping hidden ones as `listResourceFiles` does. */
function foldersBelow(dir: string): string[] {
  const out = [dir];
  for (let i = 0; i < out.length; i++) {
    let entries;
    try {
      entries = readdirSync(out[i]!, { withFileTypes: true });
    } catch {
      continue; // removed while we looked: its parent's watch reports that
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !entry.name.startsWith('.')) out.push(join(out[i]!, entry.name));
    }
  }
  return out;
}
