// `mesh check`'s data-plane checks: each meshed pod's proxy is ready, presents a valid certificate
// that chains to the current trust anchor, keeps a clock close to this machine's, and serves tap.
// `mesh check` sums them up per check; `mesh check --proxy` shows them pod by pod.
import type { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { splitPemCertificates } from '../../identity/ca-validate.ts';
import type { PodRecord } from '../../examples/orders-checkout/runner/state.ts';
import type { IdentitySummary } from '../../proxy/admin/identity-summary.ts';
import { chainBreak, fromNow, withinValidity } from './certificates.ts';
import { httpGet, tcpReach } from './probes.ts';
import { fail, ok, okWith, warn, type Category, type Check, type Verdict } from './report.ts';

/** The proxy's tap port (Linkerd's). */
export const TAP_PORT = 4190;

/** Clocks further apart than this make fresh certificates look not-yet-valid (the CA backdates 20 s). */
export const SKEW_WARN_MS = 5_000;

type Aspect = 'ready' | 'certificate' | 'clock' | 'tap';

export interface PodFindings {
  pod: PodRecord;
  verdicts: Record<Aspect, Verdict>;
}

const ASPECTS: Array<{ aspect: Aspect; each: string; all: string }> = [
  { aspect: 'ready', each: 'proxy is ready', all: 'data plane proxies are ready' },
  { aspect: 'certificate', each: 'certificate is valid and chains to the trust anchor', all: 'data plane proxies\' certificates are valid and chain to the trust anchor' },
  { aspect: 'clock', each: 'clock agrees with this machine\'s', all: 'data plane proxies\' clocks agree with this machine\'s' },
  { aspect: 'tap', each: `tap is reachable (port ${TAP_PORT})`, all: `tap is reachable on every proxy (port ${TAP_PORT})` },
];

export interface DataPlaneContext {
  stateDir: string;
  anchors: () => X509Certificate[];
  trustAnchorsFile: string;
}

async function ready(pod: PodRecord, log: string): Promise<Verdict> {
  const res = await httpGet(`${pod.adminUrl}/ready`).catch((err: Error) => err);
  const hint = `read its log: ${log}`;
  if (res instanceof Error) return fail(`${pod.name}: admin ${res.message}`, `is the proxy running? ${hint}`);
  return res.status === 200 ? ok : fail(`${pod.name}: ${res.body.trim()}`, hint);
}

/** Certificate and clock come from one GET /identity, timed, so the skew has an error bound. */
async function identity(pod: PodRecord, ctx: DataPlaneContext, log: string): Promise<{ certificate: Verdict; clock: Verdict }> {
  const sentAt = Date.now();
  const res = await httpGet(`${pod.adminUrl}/identity`).catch((err: Error) => err);
  const receivedAt = Date.now();
  if (res instanceof Error) {
    const v = fail(`${pod.name}: admin ${res.message}`, `is the proxy running? read its log: ${log}`);
    return { certificate: v, clock: v };
  }
  if (res.status !== 200) {
    const v = fail(`${pod.name}: GET ${pod.adminUrl}/identity answered ${res.status}: this proxy is older than mesh check`, 'restart the demo so every proxy runs the current code');
    return { certificate: v, clock: v };
  }
  let summary: IdentitySummary;
  try {
    summary = JSON.parse(res.body) as IdentitySummary;
    if (typeof summary !== 'object' || summary === null) throw new Error('not an object');
  } catch {
    const v = fail(`${pod.name}: GET ${pod.adminUrl}/identity did not answer JSON`, `read its log: ${log}`);
    return { certificate: v, clock: v };
  }
  // What a proxy says is input like any other: a malformed answer is that pod's ×, not a crash.
  const guarded = (f: () => Verdict) => {
    try {
      return f();
    } catch (err) {
      return fail(`${pod.name}: GET ${pod.adminUrl}/identity: ${(err as Error).message}`, `read its log: ${log}`);
    }
  };
  return { certificate: guarded(() => certificate(pod, summary, ctx, log)), clock: guarded(() => clock(pod, summary, sentAt, receivedAt)) };
}

function certificate(pod: PodRecord, summary: IdentitySummary, ctx: DataPlaneContext, log: string): Verdict {
  if (typeof summary.certificateChainPem !== 'string' && summary.certificateChainPem !== null) throw new Error('certificateChainPem is not a PEM string');
  if (!summary.certificateChainPem) return fail(`${pod.name}: no certificate yet from the identity CA`, `read its log: ${log}; is identity reachable (mesh check)?`);
  const chain = splitPemCertificates(summary.certificateChainPem, `${pod.name}'s certificate`);
  const renew = `restart the pod's proxy so it gets a new certificate, or the demo (Ctrl-C, npm start); its log: ${log}`;
  const times = withinValidity(chain, `${pod.name}'s certificate`, renew);
  if (times.outcome !== 'ok') return times;
  const broken = chainBreak(chain, ctx.anchors());
  if (broken) {
    return fail(`${pod.name}: ${broken}, the current trust anchor in ${ctx.trustAnchorsFile}`,
      `the proxy holds a certificate from another CA: was the trust anchor replaced while it ran? Restart the demo so every proxy gets a certificate from the current one; its log: ${log}`);
  }
  if (pod.identity && !chain[0]!.subjectAltName?.includes(`URI:${pod.identity}`)) {
    return fail(`${pod.name}: the certificate names ${chain[0]!.subjectAltName}, expected ${pod.identity}`, `check the pod's service account; its log: ${log}`);
  }
  return okWith(`expires ${fromNow(Date.parse(chain[0]!.validTo), Date.now())}`);
}

function clock(pod: PodRecord, summary: IdentitySummary, sentAt: number, receivedAt: number): Verdict {
  const theirs = typeof summary.now === 'string' ? Date.parse(summary.now) : NaN;
  if (Number.isNaN(theirs)) return fail(`${pod.name}: /identity gave no time ("${summary.now}")`, 'restart the demo so every proxy runs the current code');
  // The proxy read its clock somewhere between our send and receive: the midpoint, +- half the round trip.
  const skew = theirs - (sentAt + receivedAt) / 2;
  const bound = (receivedAt - sentAt) / 2;
  if (Math.abs(skew) - bound > SKEW_WARN_MS) {
    return warn(`${pod.name}: its clock is ${(skew / 1000).toFixed(1)} s ${skew > 0 ? 'ahead of' : 'behind'} this machine's (+- ${(bound / 1000).toFixed(1)} s)`,
      'certificates are issued with only 20 s of allowance for skew; sync the clocks (timedatectl, chrony)');
  }
  return okWith(`within ${Math.max(1, Math.round(Math.abs(skew) + bound))} ms`);
}

async function tap(pod: PodRecord): Promise<Verdict> {
  const problem = await tcpReach(`${pod.ip}:${TAP_PORT}`);
  return problem ? fail(`${pod.name}: tap ${problem}`, 'tap is served by every proxy on port 4190: restart the demo so every proxy runs the current code') : ok;
}

/** Every aspect of every meshed pod, asked in parallel (one slow proxy does not serialise the rest). */
export async function inspectPods(pods: PodRecord[], ctx: DataPlaneContext): Promise<PodFindings[]> {
  return Promise.all(pods.filter((p) => p.meshed && p.adminUrl).map(async (pod) => {
    const log = join(ctx.stateDir, 'logs', `${pod.role === 'ingress' ? pod.name : `${pod.name}-proxy`}.log`);
    const [r, id, t] = await Promise.all([ready(pod, log), identity(pod, ctx, log), tap(pod)]);
    return { pod, verdicts: { ready: r, certificate: id.certificate, clock: id.clock, tap: t } };
  }));
}

/** `mesh check`: one line per aspect; a problem lists every pod that has it. */
export function dataPlaneSummary(findings: () => Promise<PodFindings[]>, namespace: string | undefined): Category {
  const checks: Check[] = ASPECTS.map(({ aspect, all }) => ({
    description: all,
    hint: 'run mesh check --proxy to see each pod',
    run: async () => {
      const found = await findings();
      if (found.length === 0) return fail(`no meshed pod${namespace ? ` in namespace ${namespace}` : ''} in the running demo`, 'is the namespace right? mesh pods lists every pod');
      const bad = found.filter((f) => f.verdicts[aspect].outcome !== 'ok');
      if (bad.length === 0) return okWith(`${found.length} proxies`);
      const worst = bad.some((f) => f.verdicts[aspect].outcome === 'error') ? fail : warn;
      const first = bad[0]!.verdicts[aspect] as { error: string; hint: string };
      return worst(bad.map((f) => (f.verdicts[aspect] as { error: string }).error).join('\n'), first.hint);
    },
  }));
  return { name: 'mesh-data-plane', checks };
}

/** `mesh check --proxy`: every aspect of every pod, pod by pod. */
export async function dataPlaneByPod(findings: Promise<PodFindings[]>, namespace: string | undefined): Promise<Category> {
  const found = await findings;
  if (found.length === 0) {
    return { name: 'mesh-data-plane', checks: [{ description: 'the data plane has meshed pods', hint: '', run: () => fail(`no meshed pod${namespace ? ` in namespace ${namespace}` : ''} in the running demo`, 'is the namespace right? mesh pods lists every pod') }] };
  }
  return {
    name: 'mesh-data-plane',
    checks: found.flatMap((f) => ASPECTS.map(({ aspect, each }) => ({ description: `${f.pod.namespace}/${f.pod.name} ${each}`, hint: '', run: () => f.verdicts[aspect] }))),
  };
}
