// Field-by-field checks for the static endpoints file: each returns the typed value or throws an
// error that names the file, the field path (`services["orders:8080"].endpoints[0].address`) and why.
import { isIP } from 'node:net';
import { parseSpiffeId } from '../../api/spiffe.ts';
import { CodedError } from '../../api/errors.ts';

export type Obj = Record<string, unknown>;

export class StaticFileError extends CodedError<'STATIC_FILE_INVALID'> {
  override readonly name = 'StaticFileError';
  constructor(message: string, options?: ErrorOptions) {
    super('STATIC_FILE_INVALID', message, options);
  }
}

export class FieldReader {
  constructor(private readonly file: string) {}

  fail(at: string, why: string): never {
    throw new StaticFileError(at ? `${this.file}: ${at}: ${why}` : `${this.file}: ${why}`);
  }

  object(v: unknown, at: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(at, `expected a mapping, got ${describe(v)}`);
    return v as Obj;
  }

  array(v: unknown, at: string): unknown[] {
    if (!Array.isArray(v)) this.fail(at, `expected a list, got ${describe(v)}`);
    return v;
  }

  string(v: unknown, at: string): string {
    if (typeof v !== 'string' || v === '') this.fail(at, `expected a non-empty string, got ${describe(v)}`);
    return v;
  }

  number(v: unknown, at: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) this.fail(at, `expected a number from ${min} to ${max}, got ${describe(v)}`);
    return v;
  }

  boolean(v: unknown, at: string): boolean {
    if (typeof v !== 'boolean') this.fail(at, `expected true or false, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, at: string, allowed: readonly T[]): T {
    if (!allowed.includes(v as T)) this.fail(at, `expected one of ${allowed.join(', ')}, got ${describe(v)}`);
    return v as T;
  }

  /** A port as a number or a decimal string (mapping keys are strings). */
  port(v: unknown, at: string): number {
    const n = typeof v === 'string' && /^[1-9]\d{0,4}$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) this.fail(at, `expected a port 1-65535, got ${describe(v)}`);
    return n;
  }

  /** `ip:port` (or `[v6]:port`): endpoints are addresses, never names to look up. */
  address(v: unknown, at: string): string {
    const s = this.string(v, at);
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
    if (!m || isIP((m[1] ?? m[2])!) === 0) this.fail(at, `expected ip:port, got ${describe(v)}`);
    this.port(m[3], at);
    return s;
  }

  /** A service key: `host:port` (port 80 when left out), lower-cased. */
  authority(key: string, at: string): string {
    const m = /^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*)\.?(?::(\d+))?$/.exec(key);
    if (!m) this.fail(at, 'expected an authority, host[:port]');
    const port = m[5] === undefined ? 80 : this.port(m[5], at);
    return `${m[1]!.toLowerCase()}:${port}`;
  }

  spiffeId(v: unknown, at: string): string {
    const s = this.string(v, at);
    if (!parseSpiffeId(s)) this.fail(at, `expected spiffe://<trust-domain>/ns/<ns>/sa/<sa>, got ${describe(v)}`);
    return s;
  }

  stringMap(v: unknown, at: string): Record<string, string> {
    const o = this.object(v, at);
    for (const [k, val] of Object.entries(o)) if (typeof val !== 'string') this.fail(`${at}.${k}`, `expected a string, got ${describe(val)}`);
    return o as Record<string, string>;
  }

  strings(v: unknown, at: string): string[] {
    return this.array(v, at).map((s, i) => this.string(s, `${at}[${i}]`));
  }

  cidrs(v: unknown, at: string): string[] {
    return this.strings(v, at).map((c, i) => {
      const [ip, bits, extra] = c.split('/');
      const family = isIP(ip ?? '');
      const max = family === 6 ? 128 : 32;
      if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
        this.fail(`${at}[${i}]`, `expected a CIDR like 10.0.0.0/8, got ${describe(c)}`);
      }
      return c;
    });
  }

  /** Unknown keys are typos more often than not: refuse them rather than ignore them. */
  onlyKeys(o: Obj, at: string, allowed: string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(at ? `${at}.${k}` : k, `unknown field (expected one of ${allowed.join(', ')})`);
    }
  }
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return JSON.stringify(v);
}
