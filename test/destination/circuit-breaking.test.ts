// A Service's circuit breaker, as Linkerd writes it (`balancer.linkerd.io/failure-accrual:
// consecutive` and its tuning annotations): off unless asked for, read with Linkerd's defaults,
// a bad value warned about (its default used, the Service still routing), and streamed to a
// running client in the Service's profile, on and off again as the annotation is edited.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { profileFor } from '../../destination/index/profile-view.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { harnessForFile, until } from './harness.ts';
import { loadFolder } from './resource-folder.ts';

const NET = await addressBlock();
const h = harnessForFile('lesson', `${NET}.2`);

const payments = (annotations: string) => `apiVersion: v1
kind: Service
metadata:
  name: payments
  namespace: production
  annotations: {${annotations}}
spec:
  selector: {app: payments}
  ports: [{port: 8080}]
`;

function breakerOf(annotations: string): { policy: unknown; problems: string[] } {
  const { store, problems } = loadFolder({ 'payments.yaml': payments(annotations) });
  const profile = profileFor({ kind: 'service', name: 'payments', namespace: 'production', port: 8080 }, store.resources, 'production', 'cluster.local');
  return { policy: profile.failureAccrual, problems: problems() };
}

const ANN = 'metadata.annotations["balancer.linkerd.io/failure-accrual';

/** The annotations of a Service that opts in, with these `-consecutive-` tuning values (quoted as YAML strings). */
function consecutive(tuning: Record<string, string>): string {
  const tuned = Object.entries(tuning).map(([key, value]) => `balancer.linkerd.io/failure-accrual-consecutive-${key}: ${JSON.stringify(value)}`);
  return ['balancer.linkerd.io/failure-accrual: consecutive', ...tuned].join(', ');
}

/** The warning about tuning annotation `key`. */
const warned = (key: string, problem: string) => `warning: payments.yaml: Service production/payments: ${ANN}-consecutive-${key}"]: ${problem}`;

describe('the failure-accrual annotations', () => {
  it('leave circuit breaking off without them, as Linkerd does', () => {
    expect(breakerOf('')).toEqual({ policy: undefined, problems: [] });
  });

  it('turn it on with Linkerd\'s defaults: 7 failures in a row, 1 s doubling to 1 m, half of it jittered', () => {
    expect(breakerOf(consecutive({}))).toEqual({
      policy: { consecutiveFailures: 7, minBackoffMs: 1_000, maxBackoffMs: 60_000, jitter: 0.5 },
      problems: [],
    });
  });

  it('take each tuning annotation', () => {
    const tuned = consecutive({ 'max-failures': '3', 'min-penalty': '250ms', 'max-penalty': '10s', 'jitter-ratio': '0.1' });
    expect(breakerOf(tuned)).toEqual({ policy: { consecutiveFailures: 3, minBackoffMs: 250, maxBackoffMs: 10_000, jitter: 0.1 }, problems: [] });
  });

  it('warn about what they cannot use, naming the Service and the annotation, and keep the Service routing', () => {
    const bad = consecutive({ 'max-failures': '0', 'min-penalty': '5', 'max-penalty': '100ms', 'jitter-ratio': '<b>2</b>' });
    expect(breakerOf(bad)).toEqual({
      policy: { consecutiveFailures: 7, minBackoffMs: 1_000, maxBackoffMs: 1_000, jitter: 0.5 },
      problems: [
        warned('max-failures', `"0" is not a whole number from 1 to 1000000; using the default, 7`),
        warned('min-penalty', `"5" is not a duration: "5" has no unit (ns, us, µs, ms, s, m, h) (write e.g. 300ms, 1.5h, 2h45m); using the default, 1s`),
        warned('jitter-ratio', `"<b>2</b>" is not a ratio from 0 to 1 in plain digits such as 0.25; using the default, 0.5`),
        warned('max-penalty', `100 ms is shorter than the min-penalty (1000 ms); using the min-penalty for both`),
      ],
    });
    // What Number() would take, and what the wire's uint32 of milliseconds cannot hold.
    const lenient = consecutive({ 'max-failures': '0x3', 'min-penalty': '0s', 'max-penalty': '2000h', 'jitter-ratio': '1e-1' });
    expect(breakerOf(lenient)).toEqual({
      policy: { consecutiveFailures: 7, minBackoffMs: 1_000, maxBackoffMs: 60_000, jitter: 0.5 },
      problems: [
        warned('max-failures', `"0x3" is not a whole number from 1 to 1000000; using the default, 7`),
        warned('min-penalty', `"0s" is not a positive duration such as 250ms or 30s; using the default, 1s`),
        warned('max-penalty', `must be at most 1193h2m47.295s (4294967295ms, what the proxies' uint32 of milliseconds holds), got "2000h"; using the default, 1m`),
        warned('jitter-ratio', `"1e-1" is not a ratio from 0 to 1 in plain digits such as 0.25; using the default, 0.5`),
      ],
    });
    expect(breakerOf('balancer.linkerd.io/failure-accrual: success-rate')).toEqual({
      policy: undefined,
      problems: [`warning: payments.yaml: Service production/payments: ${ANN}"]: "success-rate" is not a failure accrual the mesh knows (consecutive); circuit breaking stays off`],
    });
    expect(breakerOf('balancer.linkerd.io/failure-accrual-consecutive-max-failures: "3"')).toEqual({
      policy: undefined,
      problems: [warned('max-failures', 'has no effect without balancer.linkerd.io/failure-accrual: "consecutive"; circuit breaking stays off')],
    });
  });
});

describe('a running client', () => {
  it('gets the breaker in the Service\'s profile, and loses it when the annotation goes', async () => {
    const file = join(h.dir, 'payments.yaml');
    writeFileSync(file, payments(consecutive({ 'max-failures': '4' })));
    const client = await h.client('production/orders', { namespace: 'production' });
    const cell = client.profile('payments.production.svc.cluster.local:8080');
    const on = await until(cell, (p) => p.failureAccrual !== undefined, 5_000, 'the profile with the breaker');
    expect(on.failureAccrual).toEqual({ consecutiveFailures: 4, minBackoffMs: 1_000, maxBackoffMs: 60_000, jitter: 0.5 });
    writeFileSync(file, payments(''));
    const off = await until(cell, (p) => p.failureAccrual === undefined, 5_000, 'the profile without the breaker');
    expect(off.fqdn).toBe('payments.production.svc.cluster.local');
  });
});
