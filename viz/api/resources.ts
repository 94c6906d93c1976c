// GET /api/v1/resources: every resource the destination holds, as YAML with its state, and for
// each Server the authorizations that apply and what its proxies refused lately (from
// inbound_http_authz_deny_total over the last minute and ten minutes).
import { eq } from '../metrics/source.ts';
import type { VizContext } from '../viz.ts';
import { namespaceParam } from './handlers.ts';
import { queryOf, sendJson } from './http.ts';
import type { Handler } from './server.ts';
import { VizError } from '../errors.ts';

export interface ServerDenials {
  reason: string;
  /** Refused requests per second over the last minute, and over ten minutes. */
  rps1m: number;
  rps10m: number;
}

export function resourcesHandler(ctx: VizContext): Handler {
  return async (req, res) => {
    const q = queryOf(req, ['namespace']);
    const namespace = namespaceParam(q.namespace);
    if (!ctx.resources.known) throw new VizError('UNAVAILABLE', 'the destination has not listed its resources yet (is it up? mesh check)');
    const resources = ctx.resources.current().filter((r) => !namespace || r.namespace === namespace || r.kind === '');
    const match = namespace ? [eq('namespace', namespace)] : [];
    const [last1m, last10m, admitted] = await Promise.all([
      ctx.metrics.rate('inbound_http_authz_deny_total', match, ['namespace', 'server', 'reason'], 60_000),
      ctx.metrics.rate('inbound_http_authz_deny_total', match, ['namespace', 'server', 'reason'], 600_000),
      ctx.metrics.rate('inbound_http_authz_allow_total', match, ['namespace', 'server', 'authz'], 60_000),
    ]);
    // The proxies' `server` label names the Server (`<name>`, or `default:<policy>` when none applies).
    const rows = resources.map((r) => {
      if (r.kind !== 'Server') return r;
      const mine = (l: Record<string, string>) => l.namespace === r.namespace && (l.server === r.name || l.server?.endsWith(`:${r.name}`) || l.server?.endsWith(`/${r.name}`));
      const recent = new Map(last1m.filter((g) => mine(g.labels)).map((g) => [g.labels.reason!, g.value]));
      const denials: ServerDenials[] = last10m.filter((g) => mine(g.labels) && g.value > 0)
        .map((g) => ({ reason: g.labels.reason!, rps1m: recent.get(g.labels.reason!) ?? 0, rps10m: g.value }));
      const admittedBy = admitted.filter((g) => mine(g.labels) && g.value > 0).map((g) => ({ authorization: g.labels.authz!, rps1m: g.value }));
      return { ...r, denials, admitted: admittedBy };
    });
    sendJson(res, 200, { resources: rows });
  };
}
