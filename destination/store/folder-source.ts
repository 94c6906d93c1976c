// The folder of YAML as a document source: every file below it, re-read after any file event.
import { statSync, watch } from 'node:fs';
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

  watch(onChange: () => void): () => void {
    // One file: watch its folder, since editors and `mv` replace the file, which ends a watch on it.
    const file = statSync(this.dir, { throwIfNoEntry: false })?.isFile() ?? false;
    const watcher = watch(file ? dirname(this.dir) : this.dir, { recursive: !file }, onChange);
    watcher.on('error', (err) => this.logger.error({ err, dir: this.dir }, 'resource folder watch failed'));
    return () => watcher.close();
  }
}
