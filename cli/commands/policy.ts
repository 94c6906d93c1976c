// `mesh policy <pod> <port>`: the Server and authorizations the destination streams for a pod's port.
import type * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { CONNECTION_USAGE, connect, parse, printStream } from '../../destination/cli/read-stream.ts';
import type { InboundPolicyMessage } from '../../api/destination-messages.ts';
import { policyFromWire } from '../../api/destination-wire.ts';
import { runCommand, UsageError } from '../args.ts';

export const summary = 'print (or follow with -w) the inbound policy (Server, authorizations) of a pod\'s port';

const USAGE = `usage: mesh policy <pod> <port> [--namespace NS] [--default-policy P] [-w]
  <pod>              namespace/name, or name with --namespace
  --default-policy P the proxy's default to show for a port no Server selects (default: the destination's)
${CONNECTION_USAGE}`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n', default: 'default' },
  'default-policy': { type: 'string', default: '' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('policy', USAGE, async () => {
    const { values, positionals } = parse(args, OPTIONS, 2, 'a pod and a port');
    const workload = positionals[0]!.includes('/') ? positionals[0]! : `${values.namespace}/${positionals[0]}`;
    const port = Number(positionals[1]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`port must be 1-65535, got "${positionals[1]}"`);
    const stubs = connect(values);
    const call = stubs.inbound.watchPort({ workload, port, defaultPolicy: values['default-policy'] }) as grpc.ClientReadableStream<InboundPolicyMessage>;
    return await printStream(call, stubs, values.watch, (m) => {
      const policy = policyFromWire(m);
      return values.json ? JSON.stringify(policy) : `--- # ${workload}:${port}\n${stringify(policy).trimEnd()}`;
    });
  });
}
