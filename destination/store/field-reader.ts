// Reads fields out of untrusted YAML with a path for every value, so a bad document is
// reported as `spec.rules[0].backendRefs[1].weight: must be ..., got -5`, never as a crash.
import { DurationError, parseDuration } from '../../api/duration.ts';
import { CodedError } from '../../api/errors.ts';

/** A field that does not hold what the resource kind requires; `path` is dotted, from the document root. */
export class FieldError extends CodedError<'FIELD_INVALID'> {
  constructor(
    readonly path: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super('FIELD_INVALID', `${path}: ${problem}`, options);
  }
}

type Obj = Record<string, unknown>;

/** How a value looks in an error message: short, quoted strings, JSON for the rest. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A mapping at `path`, with typed readers for its fields. */
export class Fields {
  constructor(
    readonly raw: Obj,
    readonly path: string,
  ) {}

  static of(value: unknown, path: string): Fields {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new FieldError(path, `must be a mapping, got ${shown(value)}`);
    }
    return new Fields(value as Obj, path);
  }

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  fail(key: string, problem: string): never {
    throw new FieldError(this.at(key), problem);
  }

  optionalObject(key: string): Fields | undefined {
    return this.has(key) ? Fields.of(this.raw[key], this.at(key)) : undefined;
  }

  object(key: string): Fields {
    const found = this.optionalObject(key);
    if (!found) this.fail(key, 'is required');
    return found;
  }

  optionalString(key: string): string | undefined {
    if (!this.has(key)) return undefined;
    const value = this.raw[key];
    if (typeof value !== 'string') return this.fail(key, `must be a string, got ${shown(value)}`);
    return value;
  }

  string(key: string): string {
    const value = this.optionalString(key);
    if (value === undefined || value === '') this.fail(key, 'is required');
    return value;
  }

  optionalBoolean(key: string): boolean | undefined {
    if (!this.has(key)) return undefined;
    const value = this.raw[key];
    if (typeof value !== 'boolean') this.fail(key, `must be true or false, got ${shown(value)}`);
    return value;
  }

  optionalInteger(key: string, min: number, max: number): number | undefined {
    if (!this.has(key)) return undefined;
    const value = this.raw[key];
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.fail(key, `must be ${min === 0 ? 'a non-negative' : 'an'} integer, got ${shown(value)}`);
    }
    if (value < min || value > max) {
      this.fail(key, `must be ${min === 0 && max >= 1e6 ? 'a non-negative integer' : `an integer from ${min} to ${max}`}, got ${value}`);
    }
    return value;
  }

  optionalNumber(key: string, min: number, max: number): number | undefined {
    if (!this.has(key)) return undefined;
    const value = this.raw[key];
    // YAML may carry numbers as strings ("0.2"); Kubernetes would refuse, and so do we.
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(key, `must be a number, got ${shown(value)}`);
    if (value < min || value > max) this.fail(key, `must be between ${min} and ${max}, got ${value}`);
    return value;
  }

  /** A sequence; each element read by `each(element, path)`. */
  list<T>(key: string, each: (value: unknown, path: string) => T): T[] {
    if (!this.has(key)) return [];
    const value = this.raw[key];
    if (!Array.isArray(value)) this.fail(key, `must be a list, got ${shown(value)}`);
    return value.map((element, i) => each(element, `${this.at(key)}[${i}]`));
  }

  /** A map of string to string (labels, matchLabels, annotations). */
  stringMap(key: string): Record<string, string> {
    const map = this.optionalObject(key);
    if (!map) return {};
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(map.raw)) {
      out[name] = typeof value === 'string' ? value : map.fail(name, `must be a string, got ${shown(value)}`);
    }
    return out;
  }

  /** A port given as a number or as a container port name (Service targetPort, Server port). */
  portOrName(key: string): number | string | undefined {
    if (!this.has(key)) return undefined;
    const value = this.raw[key];
    if (typeof value === 'number') {
      if (!Number.isInteger(value) || value < 1 || value > 65535) this.fail(key, `must be a port from 1 to 65535, got ${value}`);
      return value;
    }
    if (typeof value === 'string' && /^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/.test(value) && /[a-z]/.test(value)) return value;
    return this.fail(key, `must be a port number or an IANA port name, got ${shown(value)}`);
  }
}

/** A regular expression that must compile; linkerd2-proxy uses Rust's regex, close to JS for the common subset. */
export function compiledRegex(source: string, path: string): string {
  try {
    new RegExp(source);
  } catch (err) {
    // V8 says "Invalid regular expression: /<source>/: Unterminated group"; keep the reason only.
    const reason = (err as Error).message;
    throw new FieldError(path, `is not a valid regular expression (${reason.slice(reason.lastIndexOf('/: ') + 3)}), got ${shown(source)}`, { cause: err });
  }
  return source;
}

/** The largest number the proxies' uint32 fields hold (api/destination.proto): a larger one would wrap. */
export const MAX_UINT32 = 2 ** 32 - 1;

/**
 * The longest duration a resource may set: every timeout and TTL goes to the proxies as a uint32 of
 * milliseconds, and a longer one would wrap to a short one on the wire.
 */
export const MAX_DURATION_MS = MAX_UINT32;

/**
 * A duration field in Go's grammar ("500ms", "1m30s"; "0": none) as whole milliseconds; never
 * negative, never above MAX_DURATION_MS (1193h2m47.295s).
 */
export function durationMs(value: unknown, path: string): number {
  if (typeof value !== 'string') throw new FieldError(path, `must be a duration such as "500ms" or "10s", got ${shown(value)}`);
  let ms: number;
  try {
    ms = Math.round(parseDuration(value));
  } catch (err) {
    if (err instanceof DurationError) throw new FieldError(path, err.message);
    throw err;
  }
  if (ms < 0) throw new FieldError(path, `must not be negative, got ${shown(value)}`);
  if (ms > MAX_DURATION_MS) throw new FieldError(path, `must be at most 1193h2m47.295s (${MAX_DURATION_MS}ms, what the proxies' uint32 of milliseconds holds), got ${shown(value)}`);
  return ms;
}
