// `mesh endpoints <authority>`: what the destination tells proxies about a service's endpoints.
import type * as grpc from '@grpc/grpc-js';
import { CONNECTION_USAGE, connect, parse, printStream } from '../../destination/cli/read-stream.ts';
import type { EndpointUpdateMessage } from '../../api/destination-messages.ts';
import { endpointFromWire } from '../../api/destination-wire.ts';
import type { Endpoint } from '../../api/destination-types.ts';
import { runCommand } from '../args.ts';

export const summary = 'print (or follow with -w) the endpoints the destination streams for an authority';

const USAGE = `usage: mesh endpoints <authority> [--namespace NS] [-w]
  <authority>        orders, orders.production, orders.production.svc.cluster.local, with :port (default 80)
  --namespace NS     the caller's namespace, for short names (default "default")
${CONNECTION_USAGE}`;

function table(endpoints: Endpoint[]): string {
  const rows = endpoints.map((e) => [e.address, String(e.weight), e.identity ?? '-', e.inboundPort ? String(e.inboundPort) : '-', e.labels['pod'] ?? '-']);
  const all = [['ADDRESS', 'WEIGHT', 'IDENTITY', 'INBOUND', 'POD'], ...rows];
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function run(args: string[]): Promise<number> {
  return runCommand('endpoints', USAGE, async () => {
    const { values, positionals } = parse(args, { namespace: { type: 'string', short: 'n', default: 'default' } }, 1, 'one authority');
    const authority = positionals[0]!;
    const stubs = connect(values);
    const call = stubs.destination.getEndpoints({ authority, contextNamespace: values.namespace }) as grpc.ClientReadableStream<EndpointUpdateMessage>;
    return await printStream(call, stubs, values.watch, (m, first) => {
      if (values.json) return JSON.stringify(m);
      if (m.update === 'noEndpoints') return m.noEndpoints?.exists ? `${authority}: no endpoints (the service exists, no pod is registered)` : `${authority}: unknown to the destination (no such Service)`;
      const endpoints = (m.update === 'add' ? (m.add?.endpoints ?? []) : []).map(endpointFromWire);
      if (m.update === 'add') return first ? `${authority}: ${endpoints.length} endpoint(s)\n${table(endpoints)}` : `added:\n${table(endpoints)}`;
      return `removed: ${(m.remove?.addresses ?? []).join(', ')}`;
    });
  });
}
