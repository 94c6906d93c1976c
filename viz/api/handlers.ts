// The JSON endpoints of the viz API: health, pods, stat, edges, routes, authz (tap and top stream, in
// files of their own). Each reads its parameters strictly and answers what api/viz.md promises.
import { meshVersion } from '../../api/locate.ts';
import { VizError } from '../errors.ts';
import { targetGroups } from '../prometheus-config.ts';
import { eq } from '../metrics/source.ts';
import { parseResource, type ResourceRef } from '../query/resource.ts';
import { deploymentsNamed } from '../pods/workloads.ts';
import { authz } from '../query/authz.ts';
import { edges } from '../query/edges.ts';
import { routes } from '../query/routes.ts';
import { stat } from '../query/stat.ts';
import { parseWindow } from '../query/window.ts';
import type { VizContext } from '../viz.ts';
import { queryOf, sendJson } from './http.ts';
import type { Handler } from './server.ts';

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function namespaceParam(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!NAMESPACE.test(value)) throw new VizError('BAD_ARGUMENT', `namespace "${value}" is not a namespace name (lower-case letters, digits and '-')`);
  return value;
}

function required(value: string | undefined, name: string): string {
  if (!value) throw new VizError('BAD_ARGUMENT', `parameter "${name}" is required`);
  return value;
}

export function healthHandler(ctx: VizContext): Handler {
  return async (_req, res) => {
    sendJson(res, 200, {
      version: meshVersion(),
      identity: ctx.options.credentials.identity,
      source: ctx.options.prometheus ? 'prometheus' : 'scrape',
      scrapeIntervalMs: ctx.options.scrapeIntervalMs,
      destinationAnswered: ctx.pods.known,
      pods: ctx.pods.current().length,
      scrapeRounds: ctx.scraper.scrapes,
    });
  };
}

/** Every registered pod: its proxy's readiness, last scrape, and the version its proxy reports. */
export function podsHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    const q = queryOf(req, ['namespace']);
    const namespace = namespaceParam(q.namespace);
    const versions = await ctx.metrics.latest('proxy_build_info', namespace ? [eq('namespace', namespace)] : [], ['namespace', 'pod', 'version']);
    const versionOf = new Map(versions.map((v) => [`${v.labels.namespace}/${v.labels.pod}`, v.labels.version || undefined]));
    const pods = [...ctx.scraper.proxies.values()]
      .filter((p) => !namespace || p.pod.namespace === namespace)
      .map((p) => ({
        namespace: p.pod.namespace, name: p.pod.name, deployment: p.pod.deployment, ip: p.pod.ip, identity: p.pod.identity,
        ready: p.ready, lastScrape: p.lastScrapeMs ? new Date(p.lastScrapeMs).toISOString() : null, lastError: p.lastError ?? null,
        proxyVersion: versionOf.get(`${p.pod.namespace}/${p.pod.name}`) ?? null,
      }))
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
    sendJson(res, 200, { controlPlaneVersion: meshVersion(), pods });
  };
}

export function statHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    const q = queryOf(req, ['resource', 'namespace', 'from', 'to', 'window', 'proxyVersionMismatch']);
    const windowMs = parseWindow(q.window);
    const resource = parseResource(required(q.resource, 'resource'));
    const namespace = namespaceParam(q.namespace);
    const request = {
      resource: resolved(ctx, resource, namespace),
      namespace,
      from: q.from ? resolved(ctx, parseResource(q.from, 'from'), namespace) : undefined,
      to: q.to ? resolved(ctx, parseResource(q.to, 'to'), namespace) : undefined,
      windowMs,
    };
    let rows = await stat(request, ctx.metrics, [...ctx.scraper.proxies.values()]);
    if (q.proxyVersionMismatch === 'true') rows = await onlyMismatched(ctx, rows);
    sendJson(res, 200, { window: q.window ?? '1m', resource: q.resource, rows });
  };
}

/**
 * Rows with at least one pod whose proxy is not the control plane's version. A proxy that
 * reports no version at all predates version reporting: it is older, so it counts.
 */
async function onlyMismatched(ctx: VizContext, rows: Awaited<ReturnType<typeof stat>>) {
  const expected = meshVersion();
  const versions = await ctx.metrics.latest('proxy_build_info', [], ['namespace', 'pod', 'version']);
  const versionOf = new Map(versions.map((v) => [`${v.labels.namespace}/${v.labels.pod}`, v.labels.version]));
  const stale = [...ctx.scraper.proxies.values()].filter((p) => versionOf.get(`${p.pod.namespace}/${p.pod.name}`) !== expected);
  return rows.filter((r) => stale.some((p) => p.pod.namespace === r.namespace &&
    (r.kind === 'pod' ? p.pod.name === r.name : r.kind === 'deployment' ? p.pod.deployment === r.name : r.kind === 'namespace')));
}

export function edgesHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    const q = queryOf(req, ['resource', 'namespace', 'window']);
    const windowMs = parseWindow(q.window);
    const resource = parseResource(required(q.resource, 'resource'));
    const rows = await edges(resource.kind, namespaceParam(q.namespace), windowMs, ctx.metrics, [...ctx.scraper.proxies.values()]);
    sendJson(res, 200, { window: q.window ?? '1m', rows });
  };
}

export function routesHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    const q = queryOf(req, ['resource', 'namespace', 'to', 'window']);
    const windowMs = parseWindow(q.window);
    const resource = parseResource(required(q.resource, 'resource'));
    const to = q.to ? parseResource(q.to, 'to') : undefined;
    const namespace = namespaceParam(q.namespace) ?? namespaceOf(ctx, resource.name);
    const rows = await routes({ resource: resolved(ctx, resource, namespace), namespace, to: to && resolved(ctx, to, namespace), windowMs }, ctx.metrics);
    sendJson(res, 200, { window: q.window ?? '1m', namespace, rows });
  };
}

/** Without -n: the namespace of the resource's pods when there is exactly one, else `default` (kubectl's). */
export function namespaceOf(ctx: VizContext, name: string | undefined): string {
  const spaces = new Set(ctx.pods.current().filter((p) => p.deployment === name || p.name === name || p.labels.app === name).map((p) => p.namespace));
  return spaces.size === 1 ? [...spaces][0]! : 'default';
}

/** A deploy name resolved to the Deployments it stands for (pods/workloads.ts); other kinds as they are. */
export function resolved(ctx: VizContext, ref: ResourceRef, namespace: string | undefined): ResourceRef {
  if (ref.kind !== 'deployment' || !ref.name) return ref;
  return { ...ref, names: deploymentsNamed(ref.name, namespace, ctx.pods.current()) };
}

/** Prometheus' HTTP service discovery (`http_sd_configs`): every registered pod's admin port. */
export function prometheusTargetsHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    queryOf(req, []);
    sendJson(res, 200, targetGroups(ctx.pods.current(), ctx.options.adminPort));
  };
}

export function authzHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    const q = queryOf(req, ['resource', 'namespace', 'window']);
    const windowMs = parseWindow(q.window);
    const resource = parseResource(required(q.resource, 'resource'));
    const namespace = namespaceParam(q.namespace) ?? namespaceOf(ctx, resource.name);
    sendJson(res, 200, { window: q.window ?? '1m', namespace, rows: await authz(resolved(ctx, resource, namespace), namespace, windowMs, ctx.metrics) });
  };
}
