// `mesh inject <file|dir|url|->`: adds the mesh-proxy sidecar to the workloads in Kubernetes YAML,
// like `linkerd inject --manual`; the YAML goes to stdout, one summary line per workload to stderr.
import { readFileSync, statSync } from 'node:fs';
import { Document } from 'yaml';
import { CodedError, codedError } from '../../api/errors.ts';
import { listResourceFiles } from '../../destination/store/folder-reader.ts';
import { inject, type InjectReport } from '../../injector/inject.ts';
import { namespaceAnnotationsFrom } from '../../injector/namespaces.ts';
import { CAPTURE_MODES, defaultInjectOptions, type CaptureMode } from '../../injector/options.ts';
import { parsePodIpFamily, POD_IP_FAMILY_EXPECTED, type PodIpFamily } from '../../api/pod-ip-family.ts';
import { parseYamlDocuments } from '../../injector/yaml-documents.ts';
import { parseCommandArgs, runCommand, UsageError, type CommandValues } from '../args.ts';

export const summary = 'add the mesh-proxy sidecar to the workloads in Kubernetes YAML';

const USAGE = `usage: mesh inject <file|folder|url|-> [--proxy-image NAME] [--only-annotated] [--capture MODE] [--pod-ip-family F]

Reads Kubernetes YAML (several documents, Lists) from a file, every .yaml, .yml and .json file
under a folder (its sub-folders too, in path order, hidden files left out), an http(s) URL, or stdin (-), as
linkerd inject does; writes it to stdout with the mesh-proxy
sidecar added to every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob,
and prints one line per workload to stderr. A workload or namespace annotated
linkerd.io/inject: disabled is left alone; Namespaces in the input count as the namespace.
  --proxy-image NAME   the proxy image, without tag (default ghcr.io/mesh/mesh)
  --only-annotated     inject only where linkerd.io/inject is enabled or ingress (as the webhook does)
  --capture MODE       http-proxy (default: HTTP_PROXY on the apps, pods sharing one loopback) or
                       iptables (a proxy-init container and a transparent proxy: a cluster)
  --pod-ip-family F    the pods' address families: IPv4 (default), IPv6, or dual-stack with the
                       primary (status.podIP's) first, IPv4,IPv6 or IPv6,IPv4. An IPv6 POD_IP is
                       bracketed in HTTP_PROXY; any IPv6 gives proxy-init --ipv6 (ip6tables too);
                       dual-stack gives the proxy both addresses (MESH_POD_IPS: status.podIPs)`;

const OPTIONS = {
  'proxy-image': { type: 'string' },
  'only-annotated': { type: 'boolean', default: false },
  capture: { type: 'string', default: 'http-proxy' },
  'pod-ip-family': { type: 'string', default: 'IPv4' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('inject', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, OPTIONS, { positionals: { count: 1, expected: 'one file, folder or URL (or - for stdin)' } });
    // Checked before any input is read, as a usage error (exit 2) naming the flag and what it takes.
    const capture = CAPTURE_MODES.find((mode) => mode === values.capture);
    if (capture === undefined) throw new UsageError(`--capture must be ${CAPTURE_MODES.join(' or ')}, got "${values.capture}"`);
    const podIpFamily = parsePodIpFamily(values['pod-ip-family']);
    if (podIpFamily === undefined) throw new UsageError(`--pod-ip-family must be ${POD_IP_FAMILY_EXPECTED}, got "${values['pod-ip-family']}"`);
    return injectFile(positionals[0]!, values, { capture, podIpFamily });
  });
}

/** Injects the workloads of `source` (see `readSources`): 0, or 1 naming what is wrong. */
async function injectFile(source: string, values: CommandValues<typeof OPTIONS>, pods: { capture: CaptureMode; podIpFamily: PodIpFamily }): Promise<number> {
  try {
    const docs = (await readSources(source)).flatMap(({ name, text }) => parseYamlDocuments(text, name));
    const namespaces = namespaceAnnotationsFrom(docs.map((d) => d.value));
    const options = defaultInjectOptions({ ...pods, assumeEnabled: !values['only-annotated'], namespaceAnnotations: (ns) => namespaces.get(ns) });
    if (values['proxy-image']) options.proxy.imageName = values['proxy-image'];

    const out: string[] = [];
    const reports: InjectReport[] = [];
    for (const { doc, value } of docs) {
      if (value === null || value === undefined) continue; // an empty document between two `---`
      const result = inject(value, options);
      reports.push(...result.reports);
      // Documents left alone keep their text, comments included; injected ones are written anew.
      out.push(result.reports.some((r) => r.injected) ? new Document(result.object).toString() : doc.toString({ directives: false }));
    }
    process.stdout.write(out.map((d) => `---\n${d}`).join(''));
    for (const r of reports) {
      console.error(r.injected ? `${r.resource} injected` : `${r.resource} skipped: ${r.reason}`);
      for (const w of r.warnings) console.error(`${r.resource} warning: ${w}`);
    }
    return 0;
  } catch (err) {
    // The mesh's own errors, and any the file system raised (missing, not a folder, no permission), say what is wrong in their message.
    const known = err instanceof CodedError || (err as NodeJS.ErrnoException).syscall !== undefined;
    console.error(`mesh inject: ${known ? (err as Error).message : String(err)}`);
    return 1;
  }
}

/** An input that cannot be read, said with where it is. */
class SourceError extends codedError('INJECT_SOURCE') {}

/** How long a URL may take to answer in full. */
const FETCH_TIMEOUT_MS = 30_000;

/**
 * The texts `source` names, each with the name its errors will give: stdin, a URL, a folder's
 * manifests (walked as the destination walks its resource folder), or a file (a pipe too, as
 * from `<(...)`).
 */
async function readSources(source: string): Promise<Array<{ name: string; text: string }>> {
  if (source === '-') return [{ name: '<stdin>', text: await readStdin() }];
  if (/^https?:\/\//i.test(source)) return [{ name: source, text: await fetchText(source) }];
  if (!statSync(source).isDirectory()) return [{ name: source, text: readFileSync(source, 'utf8') }];
  const files = listResourceFiles(source);
  if (files.length === 0) throw new SourceError(`${source} is a folder with no .yaml, .yml or .json file in it or below`);
  return files.map((name) => ({ name, text: readFileSync(name, 'utf8') }));
}

/** The body at `url`; a server that refuses, answers non-2xx, or goes away mid-body is a SourceError naming the URL. */
async function fetchText(url: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'follow' });
    // Read here too: the body can fail after the headers (the server closes, the timeout fires).
    if (res.ok) return await res.text();
  } catch (err) {
    throw new SourceError(`cannot fetch ${url}: ${fetchFailure(err as Error)}`);
  }
  throw new SourceError(`cannot fetch ${url}: the server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
}

/**
 * Why a fetch failed, in the system's words. A host with addresses of both families (localhost,
 * most often) is tried on each, and when all refuse the cause is an AggregateError whose own
 * message is empty: its errors say it, one per address.
 */
function fetchFailure(err: Error): string {
  const cause = (err as Error & { cause?: Error }).cause ?? err;
  if (cause instanceof AggregateError && cause.errors.length > 0) return cause.errors.map((e: Error) => e.message).join('; ');
  return cause.message;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
