// How `mesh viz ...` reaches the viz API: the address from --viz-addr, $MESH_VIZ_ADDR, the
// running demo's record (cli/find-demo.ts), or 127.0.0.1:8085; errors say which address failed and why.
import { CodedError } from '../../api/errors.ts';
import { joinHostPort, splitHostPort, type HostPort } from '../../api/host-port.ts';
import { DEFAULT_VIZ_ADDR, DemoNotFound, findDemo } from '../../cli/find-demo.ts';

export class VizClientError extends CodedError<'VIZ_BAD_ADDRESS' | 'VIZ_UNREACHABLE' | 'VIZ_REFUSED'> {
  override readonly name = 'VizClientError';
}

/** Where the viz is: --viz-addr, else $MESH_VIZ_ADDR, else the running demo's record, else 127.0.0.1:8085. */
export function vizAddress(flag: string | undefined, state?: string): string {
  if (flag) return flag;
  if (process.env.MESH_VIZ_ADDR) return process.env.MESH_VIZ_ADDR;
  try {
    return findDemo({ flag: state }).vizAddr;
  } catch (err) {
    // No demo here: the viz may still run on its own (mesh viz serve), at the default address.
    if (err instanceof DemoNotFound) return DEFAULT_VIZ_ADDR;
    throw err;
  }
}

/** GET `path` with `params` from the viz; the API's own error message when it answers one. */
export async function vizGet<T>(addr: string, path: string, params: Record<string, string | undefined>): Promise<T> {
  const res = await vizFetch(addr, path, params, AbortSignal.timeout(15_000));
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new VizClientError('VIZ_REFUSED', `the viz at ${addr} answered ${path} with something that is not JSON (HTTP ${res.status}): ${text.slice(0, 120)}`);
  }
  if (res.status !== 200) throw new VizClientError('VIZ_REFUSED', apiError(body, res.status));
  return body as T;
}

/** Opens a streaming endpoint (tap, top); the caller reads `body` line by line. */
export async function vizFetch(addr: string, path: string, params: Record<string, string | undefined>, signal?: AbortSignal): Promise<Response> {
  // Split, then joined: an IPv6 address comes bracketed or bare (`$(POD_IP):8085`), a URL needs brackets.
  let at: HostPort;
  try {
    at = splitHostPort(addr, 'the viz address');
  } catch (err) {
    throw new VizClientError('VIZ_BAD_ADDRESS', (err as Error).message);
  }
  const url = new URL(`http://${joinHostPort(at.host, at.port)}${path}`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  try {
    return await fetch(url, { signal });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code === 'ECONNREFUSED' ? 'connection refused (is the viz running? npm start runs it; or: mesh viz serve)' : (cause?.message ?? (err as Error).message);
    throw new VizClientError('VIZ_UNREACHABLE', `cannot reach the viz at ${addr}: ${why}`);
  }
}

export function apiError(body: unknown, status: number): string {
  const e = (body as { error?: { code?: string; message?: string } })?.error;
  return e?.message ? e.message : `HTTP ${status}`;
}

/** Runs a command's body; a viz that cannot be reached or refuses becomes `mesh <name>: why`, exit 1. */
export async function reportingVizErrors(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof VizClientError)) throw err;
    console.error(`mesh ${name}: ${err.message}`);
    return 1;
  }
}
