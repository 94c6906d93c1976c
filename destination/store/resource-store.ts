// The folder of YAML as a live, validated set: each (re)load keeps every good document, rejects
// bad ones with file/resource/field, and keeps the last good version of a rejected resource.
import type { Logger } from 'pino';
import type { DocumentGroup, DocumentSource } from './document-source.ts';
import { Fields, FieldError } from './field-reader.ts';
import { FolderSource } from './folder-source.ts';
import { IGNORED_KINDS, parserFor, SUPPORTED_KINDS } from './kinds/index.ts';
import { resourceKey, ResourceSet } from './resource-set.ts';
import type { Resource } from './resources.ts';
import { profileWarnings } from './profile-warnings.ts';
import { referenceWarnings } from './reference-warnings.ts';
import { stringify } from 'yaml';
import type { ResourceState } from '../../api/destination-types.ts';

export interface StoreOptions {
  /** A folder of YAML, or one file (development mode). */
  dir: string;
  /** Where documents come from instead of `dir` (the Kubernetes API); `dir` then only names it. */
  source?: DocumentSource;
  trustDomain?: string;
  clusterDomain?: string;
  logger: Logger;
  /** Quiet period after a file event before reloading; editors write in bursts. */
  debounceMs?: number;
  /** Read Pods too (development mode, where they stand for registrations); else they are skipped. */
  pods?: boolean;
  /** Read EndpointSlices too (Kubernetes mode: the controller-manager's endpoints). */
  endpointSlices?: boolean;
}

export interface StoreProblem {
  severity: 'error' | 'warning';
  /** `file: Kind ns/name: field.path: problem`, ready to print. */
  message: string;
}

export class ResourceStore {
  private current = new ResourceSet(new Map());
  private stateList: ResourceState[] = [];
  private fileKeys = new Map<string, string[]>();
  private problemList: StoreProblem[] = [];
  private readonly listeners = new Set<(set: ResourceSet) => void>();
  private stopWatching?: () => void;
  private timer?: NodeJS.Timeout;
  private readonly source: DocumentSource;
  readonly trustDomain: string;
  readonly clusterDomain: string;

  constructor(private readonly options: StoreOptions) {
    this.trustDomain = options.trustDomain ?? 'cluster.local';
    this.clusterDomain = options.clusterDomain ?? 'cluster.local';
    this.source = options.source ?? new FolderSource(options.dir, options.logger);
  }

  get resources(): ResourceSet {
    return this.current;
  }

  /** Errors and warnings of the latest load. */
  problems(): StoreProblem[] {
    return this.problemList;
  }

  /** Every document of the latest load with its state, in file order. */
  states(): ResourceState[] {
    return this.stateList;
  }

  onChange(listener: (set: ResourceSet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Loads once, then reloads on every change of the source. */
  start(): void {
    this.load();
    this.stopWatching = this.source.watch(() => this.scheduleLoad());
  }

  stop(): void {
    this.stopWatching?.();
    clearTimeout(this.timer);
  }

  private scheduleLoad(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), this.options.debounceMs ?? 75);
  }

  load(): void {
    const { dir } = this.options;
    const previous = this.current.all;
    const next = new Map<string, Resource>();
    const fileKeys = new Map<string, string[]>();
    const problems: StoreProblem[] = [];
    const states: ResourceState[] = [];
    const error = (message: string) => problems.push({ severity: 'error', message });
    let groups: DocumentGroup[] = [];
    try {
      groups = this.source.read();
    } catch (err) {
      error(`${dir}: cannot list the resource folder: ${(err as Error).message}; keeping the last good state`);
      this.finish(problems, this.current.all, this.fileKeys, this.stateList);
      return;
    }
    for (const { origin, label: file, docs, problem } of groups) {
      const keys: string[] = [];
      if (problem) {
        // A file that does not parse at all keeps everything it defined last time.
        const kept = this.fileKeys.get(origin) ?? [];
        for (const key of kept) if (previous.has(key)) next.set(key, previous.get(key)!);
        fileKeys.set(origin, kept);
        error(`${file}: ${problem.message}${kept.length ? `; keeping the last good ${kept.length} resource(s) from it` : ''}`);
        states.push({ kind: '', namespace: '', name: problem.file, file: problem.file, yaml: '', state: 'refused', problems: [problem.message] });
        continue;
      }
      for (const doc of docs) {
        const raw = (doc.value ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
        const kind = typeof raw.kind === 'string' ? raw.kind : '';
        const name = typeof raw.metadata?.name === 'string' ? raw.metadata.name : '?';
        const namespace = typeof raw.metadata?.namespace === 'string' && raw.metadata.namespace ? raw.metadata.namespace : 'default';
        const label = `${kind || '(no kind)'} ${namespace}/${name}`;
        const state: ResourceState = { kind, namespace, name, file: doc.file, yaml: yamlOf(doc.value), state: 'applied', problems: [] };
        const refuse = (problem: string) => {
          state.state = 'refused';
          state.problems.push(problem);
        };
        const parse = parserFor(kind, { pods: this.options.pods, endpointSlices: this.options.endpointSlices });
        if (!parse) {
          if (!IGNORED_KINDS.has(kind)) {
            error(`${file}: ${doc.position}: ${label}: kind: must be one of ${SUPPORTED_KINDS.join(', ')}, got ${JSON.stringify(raw.kind ?? null)}`);
            refuse(`kind: must be one of ${SUPPORTED_KINDS.join(', ')}`);
            states.push(state);
          }
          continue;
        }
        states.push(state);
        const key = resourceKey(kind, namespace, name);
        try {
          const resource = parse(Fields.of(doc.value, ''), {
            file,
            trustDomain: this.trustDomain,
            warn: (path, message) => {
              problems.push({ severity: 'warning', message: `${file}: ${label}: ${path}: ${message}` });
              state.state = 'warnings';
              state.problems.push(`${path}: ${message}`);
            },
          });
          if (next.has(key)) {
            error(`${file}: ${label}: metadata.name: duplicates the ${kind} already defined in ${next.get(key)!.meta.file}; ignored`);
            refuse(`metadata.name: duplicates the ${kind} already defined in ${next.get(key)!.meta.file}; ignored`);
            continue;
          }
          next.set(key, resource);
          keys.push(key);
        } catch (err) {
          const detail = err instanceof FieldError ? err.message : `cannot be read: ${(err as Error).message}`;
          const last = previous.get(key);
          if (last && !next.has(key)) {
            next.set(key, last);
            keys.push(key);
          }
          error(`${file}: ${label}: ${detail}${last ? ' (the last good version stays in force)' : ''}`);
          refuse(`${detail}${last ? ' (the last good version stays in force)' : ''}`);
        }
      }
      fileKeys.set(origin, keys);
    }
    this.finish(problems, next, fileKeys, states);
  }

  private finish(problems: StoreProblem[], resources: ReadonlyMap<string, Resource>, fileKeys: Map<string, string[]>, states: ResourceState[]): void {
    const set = new ResourceSet(resources);
    for (const message of [...profileWarnings(set, this.clusterDomain), ...referenceWarnings(set)]) {
      problems.push({ severity: 'warning', message });
      // The resource it names carries it too, as `field: problem`.
      for (const st of states) {
        const label = `${st.kind} ${st.namespace}/${st.name}: `;
        if (!st.kind || st.state === 'refused' || !message.includes(label)) continue;
        st.state = 'warnings';
        st.problems.push(message.slice(message.indexOf(label) + label.length));
      }
    }
    const before = new Set(this.problemList.map((p) => p.message));
    for (const p of problems) {
      if (before.has(p.message)) continue; // say each problem once, not on every reload
      if (p.severity === 'error') this.options.logger.error({ problem: p.message }, 'resource rejected');
      else this.options.logger.warn({ problem: p.message }, 'resource warning');
    }
    this.problemList = problems;
    this.stateList = states;
    this.current = set;
    this.fileKeys = fileKeys;
    for (const listener of this.listeners) listener(set);
  }
}

/** A document as YAML for people; a value YAML cannot write (a cycle cannot come from a file) is said so. */
function yamlOf(value: unknown): string {
  try {
    return stringify(value, { lineWidth: 0 });
  } catch (err) {
    return `# cannot be shown as YAML: ${(err as Error).message}\n`;
  }
}
