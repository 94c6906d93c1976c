// InboundPolicies.WatchPort: the policy of one port of a pod, now and on every change.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { policyToWire } from '../../proxy/discovery/destination-wire.ts';
import type { DefaultPolicy } from '../../proxy/discovery/types.ts';
import type { Discovery } from '../index/discovery.ts';

const DEFAULTS = new Set(['all-unauthenticated', 'all-authenticated', 'cluster-authenticated', 'deny']);

/* eslint-disable @typescript-eslint/no-explicit-any -- wire messages are dynamic objects */
export function policyHandler(discovery: Discovery, logger: Logger) {
  return (call: grpc.ServerWritableStream<any, unknown>) => {
    const { workload, port, defaultPolicy } = call.request as { workload: string; port: number; defaultPolicy: string };
    const [namespace, name, extra] = String(workload).split('/');
    const fail = (details: string) => call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
    if (!namespace || !name || extra !== undefined) return fail(`workload: must be namespace/name, got ${JSON.stringify(workload)}`);
    if (!(port >= 1 && port <= 65535)) return fail(`port: must be 1-65535, got ${port}`);
    if (defaultPolicy && !DEFAULTS.has(defaultPolicy)) return fail(`default_policy: must be one of ${[...DEFAULTS].join(', ')}, got ${JSON.stringify(defaultPolicy)}`);
    const watch = discovery.watchPolicy(namespace, name, port, (defaultPolicy || undefined) as DefaultPolicy | undefined, (p) => call.write(policyToWire(p)));
    call.write(policyToWire(watch.current));
    const stop = () => watch.stop();
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', (err) => {
      stop();
      logger.debug({ err, workload, port }, 'policy stream failed');
    });
  };
}
