// Installs and removes the interception rules in this network namespace, each in one
// iptables-restore transaction: it commits whole or not at all, so a failure never leaves half a
// rule set. Checks first for what it needs (the binaries, NET_ADMIN) and names what is missing.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { IpFamily } from '../api/cidr.ts';
import { CodedError } from '../api/errors.ts';
import { OUTPUT_CHAIN, REDIRECT_CHAIN, restoreText, type RuleSet } from './rules.ts';

export type IptablesErrorCode = 'IPTABLES_MISSING' | 'NET_ADMIN_MISSING' | 'IPTABLES_FAILED';

export class IptablesError extends CodedError<IptablesErrorCode> {
  override readonly name = 'IptablesError';
}

const CAP_NET_ADMIN = 12n;
/** The binaries per address family: ip6tables keeps a nat table of its own, with the same syntax. */
type Binaries = { save: string; restore: string };
const BINARIES: Record<IpFamily, Binaries> = {
  IPv4: { save: 'iptables-save', restore: 'iptables-restore' },
  IPv6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};
const OURS = [REDIRECT_CHAIN, OUTPUT_CHAIN];

/** The path of each binary found on PATH; throws IPTABLES_MISSING naming the first one absent. */
export function findIptables(path = process.env['PATH'] ?? '', family: IpFamily = 'IPv4'): Binaries {
  const found = {} as Binaries;
  for (const [role, name] of Object.entries(BINARIES[family]) as Array<[keyof Binaries, string]>) {
    const hit = path.split(delimiter).filter(Boolean).map((dir) => join(dir, name)).find(executable);
    if (!hit) {
      throw new IptablesError('IPTABLES_MISSING', `${name} not found on PATH (${path || 'empty'}): install the iptables package (Debian: apt-get install iptables)`);
    }
    found[role] = hit;
  }
  return found;
}

/** Throws NET_ADMIN_MISSING unless this process holds CAP_NET_ADMIN (root in a container may not). */
export function requireNetAdmin(status = readFileSync('/proc/self/status', 'utf8')): void {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (hex === undefined || ((BigInt(`0x${hex}`) >> CAP_NET_ADMIN) & 1n) === 0n) {
    throw new IptablesError(
      'NET_ADMIN_MISSING',
      'this process lacks the NET_ADMIN capability, which changing iptables rules needs (compose: cap_add: [NET_ADMIN]; Kubernetes: securityContext.capabilities.add)',
    );
  }
}

export interface Applied {
  /** The iptables-restore input that was committed (empty when there was nothing to do). */
  committed: string;
  /** The nat table's lines that are ours, read back after the commit. */
  installed: string[];
}

/** Replaces our chains' contents and adds the jumps that are missing: running it again changes nothing. */
export async function install(set: RuleSet, path?: string, family: IpFamily = 'IPv4'): Promise<Applied> {
  const bin = preflight(path, family);
  const jumps = ourJumps(await save(bin));
  // Declaring a chain in iptables-restore --noflush creates it or empties it; a jump that is
  // already there is left alone, so a second run does not add a second one.
  const missing = set.jumps.filter((jump) => !jumps.some((line) => sameJump(line, jump)));
  const committed = restoreText(set, missing);
  await restore(bin, committed);
  return { committed, installed: ours(await save(bin)) };
}

/** Deletes our jumps and chains, whatever version of them is installed; nothing installed: nothing done. */
export async function remove(path?: string, family: IpFamily = 'IPv4'): Promise<Applied> {
  const bin = preflight(path, family);
  const before = await save(bin);
  const lines: string[] = ourJumps(before).map((line) => line.replace(/^-A /, '-D '));
  for (const chain of OURS) if (new RegExp(`^:${chain} `, 'm').test(before)) lines.push(`-F ${chain}`, `-X ${chain}`);
  if (lines.length === 0) return { committed: '', installed: [] };
  const committed = ['*nat', ...lines, 'COMMIT', ''].join('\n');
  await restore(bin, committed);
  return { committed, installed: ours(await save(bin)) };
}

/** Our lines in the nat table now: chain declarations, their rules and the jumps into them. */
export async function current(path?: string, family: IpFamily = 'IPv4'): Promise<string[]> {
  return ours(await save(preflight(path, family)));
}

/** The checks before any change: the family's binaries are on PATH and this process holds NET_ADMIN. */
export function preflight(path: string | undefined, family: IpFamily): Binaries {
  const bin = findIptables(path, family);
  requireNetAdmin();
  return bin;
}

function ours(saved: string): string[] {
  return saved.split('\n').filter((line) => OURS.some((chain) => line.includes(chain)));
}

function ourJumps(saved: string): string[] {
  return saved.split('\n').filter((line) => /^-A (PREROUTING|OUTPUT) /.test(line) && OURS.some((chain) => line.includes(`-j ${chain}`)));
}

/** iptables-save prints a rule's matches in its own order: compare by chain and target. */
function sameJump(saved: string, wanted: string): boolean {
  const key = (line: string) => `${line.split(' ')[1]} ${/-j (\S+)/.exec(line)?.[1]}`;
  return key(saved) === key(wanted);
}

function save(bin: Binaries): Promise<string> {
  return runIptables(bin.save, ['-t', 'nat'], '');
}

function restore(bin: Binaries, text: string): Promise<string> {
  return runIptables(bin.restore, ['--noflush'], text);
}

function runIptables(file: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new IptablesError('IPTABLES_FAILED', `${file}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      const why = err.trim() || `exit code ${code}`;
      const hint = /permission denied|not permitted/i.test(why) ? ' (does this process hold NET_ADMIN?)' : '';
      reject(new IptablesError('IPTABLES_FAILED', `${file} ${args.join(' ')} failed, nothing was changed: ${why}${hint}`));
    });
    child.stdin.on('error', () => {}); // a child that exits early: its exit code tells the story
    child.stdin.end(input);
  });
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
