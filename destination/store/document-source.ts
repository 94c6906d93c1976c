// Where the store's documents come from: a folder of YAML (folder-source.ts) or the Kubernetes
// API (destination/kubernetes/api-source.ts). The store validates both the same way, so the mesh
// behaves the same whichever feeds it.
import type { FileProblem, RawDocument } from './folder-reader.ts';

/** The documents of one origin: a file, or one object of the API. */
export interface DocumentGroup {
  /** Stable key of the origin (a file relative to the folder; `<resource>/<ns>/<name>` for the API). */
  origin: string;
  /** How messages name the origin (the file's path; the API object's path). */
  label: string;
  docs: RawDocument[];
  /** The origin could not be read at all (a YAML syntax error): it keeps what it held. */
  problem?: FileProblem;
}

export interface DocumentSource {
  /** Every document now. Throws when nothing can be read (the store then keeps its last state). */
  read(): DocumentGroup[];
  /** Calls `onChange` after something changed (possibly several times per change); returns a stop function. */
  watch(onChange: () => void): () => void;
}
