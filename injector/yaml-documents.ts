// Multi-document YAML in, with errors that name the source, the document and the line.
import { parseAllDocuments, type Document } from 'yaml';
import { InjectorError } from './errors.ts';

export function parseYamlDocuments(text: string, source: string): Document[] {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return []; // an empty stream
  docs.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      throw new InjectorError('BAD_YAML', `${source}: document ${i + 1}${line ? `, line ${line}` : ''}: ${err.message.split('\n')[0]}`);
    }
  });
  return docs;
}
