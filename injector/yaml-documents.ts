// Multi-document YAML in, with errors that name the source, the document and the line.
import { parseAllDocuments, type Document } from 'yaml';
import { InjectorError } from './errors.ts';

export interface YamlDocument {
  /** The parsed document, kept so untouched documents can be written back with their comments. */
  doc: Document;
  /** Its plain value (null for an empty document between two `---`). */
  value: unknown;
}

export function parseYamlDocuments(text: string, source: string): YamlDocument[] {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return []; // an empty stream
  return docs.map((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      throw new InjectorError('BAD_YAML', `${source}: document ${i + 1}${line ? `, line ${line}` : ''}: ${err.message.split('\n')[0]}`, { cause: err });
    }
    try {
      // Well-formed YAML can still fail here: an alias bomb or an alias before its anchor.
      return { doc, value: doc.toJS({ maxAliasCount: 100 }) as unknown };
    } catch (cause) {
      throw new InjectorError('BAD_YAML', `${source}: document ${i + 1}: ${(cause as Error).message}`, { cause });
    }
  });
}
