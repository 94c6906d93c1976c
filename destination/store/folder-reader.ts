// Turns a folder of YAML files into documents: multi-document files and `List` kinds are
// flattened; each document remembers its file and index for error messages.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface RawDocument {
  file: string;
  /** Where in the file: `document 2` or `document 1, items[3]`. */
  position: string;
  value: unknown;
}

export interface FileProblem {
  file: string;
  message: string;
}

const EXTENSIONS = /\.(ya?ml|json)$/;

/** Every resource file below `dir`; `dir` itself when it is a file. */
export function listResourceFiles(dir: string): string[] {
  if (statSync(dir).isFile()) return [dir];
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue; // editors' swap and backup files
      const full = join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (EXTENSIONS.test(entry.name) && statSync(full).isFile()) out.push(full);
    }
  };
  walk(dir);
  return out.sort();
}

/** The documents of one file, or the reason the whole file cannot be read. */
export function readDocuments(dir: string, fullPath: string): { docs: RawDocument[]; problem?: FileProblem } {
  const file = relative(dir, fullPath);
  let text: string;
  try {
    text = readFileSync(fullPath, 'utf8');
  } catch (err) {
    return { docs: [], problem: { file, message: `cannot read: ${(err as Error).message}` } };
  }
  const docs: RawDocument[] = [];
  const parsed = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (let i = 0; i < list.length; i++) {
    const doc = list[i]!;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      return { docs: [], problem: { file, message: `document ${i + 1}: YAML syntax: ${e.message.split('\n')[0]}` } };
    }
    let value: unknown;
    try {
      // Well-formed YAML can still fail here: an alias bomb or an alias before its anchor.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      return { docs: [], problem: { file, message: `document ${i + 1}: YAML: ${(err as Error).message}` } };
    }
    if (value === null || value === undefined) continue; // an empty document between `---`
    const items = (value as { kind?: unknown; items?: unknown }).kind === 'List' ? (value as { items?: unknown }).items : undefined;
    if (Array.isArray(items)) items.forEach((item, j) => docs.push({ file, position: `document ${i + 1}, items[${j}]`, value: item }));
    else docs.push({ file, position: `document ${i + 1}`, value });
  }
  return { docs };
}
