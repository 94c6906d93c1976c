// InboundPolicies.WatchPort: the policy of one port of a pod, now and on every change. The first
// message waits (briefly) for the pod to register, since Servers select pods by their labels.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { InboundPolicyMessage, PortSpecMessage } from '../../api/destination-messages.ts';
import { policyToWire } from '../../api/destination-wire.ts';
import { DEFAULT_POLICIES, type DefaultPolicy, type InboundPolicy } from '../../api/destination-types.ts';
import type { Discovery } from '../index/discovery.ts';
import { stopWhenEnded } from './stream-end.ts';

const DEFAULTS: ReadonlySet<string> = new Set(DEFAULT_POLICIES);

export function policyHandler(discovery: Discovery, logger: Logger) {
  return (call: grpc.ServerWritableStream<PortSpecMessage, InboundPolicyMessage>) => {
    const { workload = '', port = 0, defaultPolicy = '' } = call.request;
    const [namespace, name, extra] = String(workload).split('/');
    const fail = (details: string) => call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
    if (!namespace || !name || extra !== undefined) return fail(`workload: must be namespace/name, got ${JSON.stringify(workload)}`);
    if (!(port >= 1 && port <= 65535)) return fail(`port: must be 1-65535, got ${port}`);
    if (defaultPolicy && !DEFAULTS.has(defaultPolicy)) return fail(`default_policy: must be one of ${[...DEFAULTS].join(', ')}, got ${JSON.stringify(defaultPolicy)}`);
    const proxyDefault = (defaultPolicy || undefined) as DefaultPolicy | undefined;

    let lastSent: string | undefined;
    let held = true;
    const send = (p: InboundPolicy) => {
      const wire = policyToWire(p);
      const text = JSON.stringify(wire);
      if (text === lastSent) return;
      lastSent = text;
      call.write(wire);
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
    if (discovery.pods.get(namespace, name)) release(); // already registered: no reason to wait
    const stop = () => {
      offPods();
      clearTimeout(holdTimer);
      watch.stop();
    };
    stopWhenEnded(call, stop, (err) => logger.debug({ err, workload, port }, 'policy stream failed'));
  };
}
