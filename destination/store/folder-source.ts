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
   * sees the rename into it and every write to any file in it. A watch follows its folder's inode
   * too, so the set of watches is brought up to date after each burst of events: folders that
   * appear are watched, folders that go are dropped, and a folder replaced by another of the same
   * name (`rm -rf` and `mkdir`, a `mv` over it) is watched anew. While the folder itself is
   * missing, it is looked for again every second. A file that is a symlink to somewhere outside
   * the tree is read on every reload, but edits to its target are not seen until another change.
   */
  watch(onChange: () => void): () => void {
    const single = statSync(this.dir, { throwIfNoEntry: false })?.isFile() ?? false;
    const watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
    let closed = false;
    let syncQueued = false;
    let retry: NodeJS.Timeout | undefined;
    const drop = (folder: string) => {
      watchers.get(folder)?.watcher.close();
      watchers.delete(folder);
    };
    const onEvent = () => {
      onChange();
      // One re-listing of the folders per burst (a `git checkout` of many files), not per event.
      if (syncQueued) return;
      syncQueued = true;
      setImmediate(() => { syncQueued = false; sync(); });
    };
    const sync = () => {
      if (closed) return;
      const wanted = new Set(single ? [dirname(this.dir)] : foldersBelow(this.dir));
      for (const folder of watchers.keys()) if (!wanted.has(folder)) drop(folder);
      let missing = false;
      for (const folder of wanted) {
        const ino = statSync(folder, { throwIfNoEntry: false })?.ino;
        if (ino === undefined) {
          drop(folder);
          missing = true;
          continue;
        }
        if (watchers.get(folder)?.ino === ino) continue;
        drop(folder); // another folder under the same name: its watch heard the old one
        try {
          const watcher = watch(folder, onEvent);
          watcher.on('error', (err) => {
            this.logger.error({ err, dir: folder }, 'resource folder watch failed; watching it again in a second');
            if (watchers.get(folder)?.watcher === watcher) drop(folder); // not a newer watch of the same path
            retryIn1s();
          });
          watchers.set(folder, { watcher, ino });
        } catch (err) {
          // Gone between the listing and the watch: the change that removed it is being handled.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') missing = true;
          else this.logger.error({ err, dir: folder }, 'cannot watch a resource folder: edits in it are not seen until it changes again (too many inotify watches? fs.inotify.max_user_watches)');
        }
      }
      // A folder gone (the folder itself, replaced by a checkout, say): nothing is left to tell
      // us it is back, so look again in a second.
      if (missing) retryIn1s();
    };
    const retryIn1s = () => {
      clearTimeout(retry);
      retry = setTimeout(() => {
        const before = watchers.size;
        sync();
        if (watchers.size !== before) onChange();
      }, 1000).unref();
    };
    sync();
    return () => {
      closed = true;
      clearTimeout(retry);
      for (const folder of [...watchers.keys()]) drop(folder);
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
