// InboundPolicies.WatchPort: the policy of one port of a pod, now and on every change. The first
// message waits (briefly) for the pod to register, since Servers select pods by their labels.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { InboundPolicyMessage, PortSpecMessage } from '../../api/destination-messages.ts';
import { destinationProto } from '../../api/destination-proto.ts';
import { policyToWire } from '../../api/destination-wire.ts';
import { DEFAULT_POLICIES, type DefaultPolicy, type InboundPolicy } from '../../api/destination-types.ts';
import type { Discovery } from '../index/discovery.ts';
import { EncodedStream, preEncoded, responseEncoder } from './encoded-stream.ts';
import { stopWhenEnded } from './stream-end.ts';

const DEFAULTS: ReadonlySet<string> = new Set(DEFAULT_POLICIES);

/**
 * The InboundPolicies service as this server registers it: WatchPort's messages reach grpc-js
 * already encoded (policyHandler encodes each, to catch a failure: encoded-stream.ts).
 */
export function inboundPoliciesServiceDefinition(): grpc.ServiceDefinition {
  return preEncoded(destinationProto().InboundPolicies.service, ['WatchPort']);
}

/**
 * Serves WatchPort (registered through `inboundPoliciesServiceDefinition`). `toWire` is the
 * policy's wire form (a parameter so a test can break it).
 */
export function policyHandler(discovery: Discovery, logger: Logger, toWire: (p: InboundPolicy) => InboundPolicyMessage = policyToWire) {
  const encode = responseEncoder<InboundPolicyMessage>(destinationProto().InboundPolicies.service, 'WatchPort');
  return (call: grpc.ServerWritableStream<PortSpecMessage, Buffer>) => {
    const { workload = '', port = 0, defaultPolicy = '' } = call.request;
    const [namespace, name, extra] = String(workload).split('/');
    const fail = (details: string) => call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
    if (!namespace || !name || extra !== undefined) return fail(`workload: must be namespace/name, got ${JSON.stringify(workload)}`);
    if (!(port >= 1 && port <= 65535)) return fail(`port: must be 1-65535, got ${port}`);
    if (defaultPolicy && !DEFAULTS.has(defaultPolicy)) return fail(`default_policy: must be one of ${[...DEFAULTS].join(', ')}, got ${JSON.stringify(defaultPolicy)}`);
    const proxyDefault = (defaultPolicy || undefined) as DefaultPolicy | undefined;

    let last: InboundPolicy | undefined;
    // On a failure the proxy keeps its last policy for the port, and asks again.
    const out = new EncodedStream<InboundPolicyMessage>(call, {
      encode, logger,
      describe: () => ({
        subject: `policy of port ${port} of pod ${namespace}/${name}${last?.server ? ` (Server ${last.server.name})` : ''}`,
        logFields: { workload, port, server: last?.server?.name },
      }),
    });
    let lastSent: string | undefined;
    let held = true;
    const send = (p: InboundPolicy) => {
      last = p;
      let text: string | undefined;
      const written = out.send(() => {
        const wire = toWire(p);
        text = JSON.stringify(wire);
        return text === lastSent ? [] : [wire];
      });
      if (written) lastSent = text;
    };
    const release = () => {
      if (!held) return;
      held = false;
      offPods();
      clearTimeout(holdTimer);
      send(discovery.policyNow(namespace, name, port, proxyDefault));
    };
    const watch = discovery.watchPolicy(namespace, name, port, proxyDefault, (p) => !held && send(p));
    const offPods = discovery.pods.onChange(() => discovery.pods.get(namespace, name) && release());
    const holdTimer = setTimeout(release, discovery.policyHoldMs);
    const stop = () => {
      offPods();
      clearTimeout(holdTimer);
      watch.stop();
    };
    stopWhenEnded(call, stop, (err) => logger.debug({ err, workload, port }, 'policy stream failed'));
    if (discovery.pods.get(namespace, name)) release(); // already registered: no reason to wait
  };
}
