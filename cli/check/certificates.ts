// What `mesh check` asks of a certificate: in its validity period, far enough from its end, and
// on a chain that ends at one of the current trust anchors.
import type { X509Certificate } from 'node:crypto';
import { fail, ok, okWith, warn, type Verdict } from './report.ts';

const DAY_MS = 86_400_000;

/** Linkerd warns when an anchor or issuer has less than this left. */
export const WARN_DAYS = 60;

export function name(cert: X509Certificate): string {
  const subject = (cert.subject as string | undefined)?.replaceAll('\n', ', ');
  return subject || cert.subjectAltName || `serial ${cert.serialNumber}`;
}

/** `in 3 days`, `in 5 hours`, `2 days ago`: how far `atMs` is from `nowMs`. */
export function fromNow(atMs: number, nowMs: number): string {
  const ms = Math.abs(atMs - nowMs);
  const amount = ms >= 2 * DAY_MS ? `${Math.floor(ms / DAY_MS)} days` : ms >= 7_200_000 ? `${Math.floor(ms / 3_600_000)} hours` : `${Math.max(1, Math.floor(ms / 60_000))} minutes`;
  return atMs >= nowMs ? `in ${amount}` : `${amount} ago`;
}

/** × when a certificate is not yet or no longer valid. */
export function withinValidity(certs: X509Certificate[], what: string, hint: string, nowMs = Date.now()): Verdict {
  for (const cert of certs) {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (to <= nowMs) return fail(`${what} "${name(cert)}" expired ${fromNow(to, nowMs)} (${new Date(to).toISOString()})`, hint);
    if (from > nowMs) return fail(`${what} "${name(cert)}" is not valid until ${new Date(from).toISOString()} (${fromNow(from, nowMs)}); is this machine's clock right?`, hint);
  }
  return ok;
}

/** ‼ when a certificate has less than WARN_DAYS left; the days left are in the description. */
export function daysLeft(certs: X509Certificate[], nowMs = Date.now()): number {
  return Math.min(...certs.map((c) => Math.floor((Date.parse(c.validTo) - nowMs) / DAY_MS)));
}

export function validForAWhile(certs: X509Certificate[], what: string, hint: string, nowMs = Date.now()): Verdict {
  const left = daysLeft(certs, nowMs);
  if (left < 0) return fail(`${what} has expired`, hint);
  const end = new Date(Math.min(...certs.map((c) => Date.parse(c.validTo)))).toISOString();
  return left < WARN_DAYS ? warn(`${what} expires in ${left} days (${end})`, hint) : okWith(`${left} days left`);
}

/**
 * Does `chain` (leaf first, then intermediates) end at one of `anchors`: each certificate signed
 * by the next, the last by an anchor? Returns undefined when it does, else which link breaks.
 */
export function chainBreak(chain: X509Certificate[], anchors: X509Certificate[]): string | undefined {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.verify(chain[i + 1]!.publicKey)) return `"${name(chain[i]!)}" is not signed by the next certificate in its chain, "${name(chain[i + 1]!)}"`;
  }
  const last = chain.at(-1)!;
  if (anchors.some((a) => last.checkIssued(a) && last.verify(a.publicKey))) return undefined;
  return `"${name(last)}" (issued by "${last.issuer.replaceAll('\n', ', ')}") is not signed by the trust anchor${anchors.length > 1 ? 's' : ''} ${anchors.map((a) => `"${name(a)}"`).join(', ')}`;
}
