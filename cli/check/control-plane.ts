// `mesh check`'s control-plane categories: the CA's trust anchor and issuer on disk, identity and
// destination reachable over TLS proving their SPIFFE ids, the destination's resources.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { CONTROL_PLANE_NAMESPACE, spiffeId } from '../../api/spiffe.ts';
import { ResourceStore } from '../../destination/store/resource-store.ts';
import { FILES } from '../../identity/files.ts';
import { splitPemCertificates } from '../../identity/ca-validate.ts';
import type { FoundDemo } from '../find-demo.ts';
import { chainBreak, validForAWhile, withinValidity } from './certificates.ts';
import { tlsIdentity } from './probes.ts';
import { fail, ok, warn, type Category } from './report.ts';

/** The CA's files as the demo uses them, read once per run; the reason when they cannot be read. */
export interface CaFiles {
  dir: string;
  trustDomain: string;
  anchorsPem: string;
  anchors: X509Certificate[];
  issuerChain: X509Certificate[];
}

export function readCaFiles(trustAnchorsFile: string): CaFiles {
  const dir = dirname(trustAnchorsFile);
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const anchorsPem = read(trustAnchorsFile);
  let trustDomain = 'cluster.local';
  try {
    trustDomain = (JSON.parse(readFileSync(join(dir, FILES.settings), 'utf8')) as { trustDomain?: string }).trustDomain ?? trustDomain;
  } catch {
    // A brought CA may have no settings file: the default trust domain, as `mesh identity serve` uses.
  }
  return {
    dir, trustDomain, anchorsPem,
    anchors: splitPemCertificates(anchorsPem, trustAnchorsFile),
    issuerChain: splitPemCertificates(read(join(dir, FILES.issuerCert)), join(dir, FILES.issuerCert)),
  };
}

const START_OVER = (dir: string) => `make a new CA: stop the demo, remove ${dir} and start again (npm start makes a new trust anchor and issuer); every proxy gets the new anchor at its next start`;

export function identityCategory(demo: FoundDemo, ca: () => CaFiles): Category {
  const dir = dirname(demo.trustAnchorsFile);
  return {
    name: 'mesh-identity',
    checks: [
      { description: 'certificate config is valid', hint: `the CA's files are in ${dir} (ca.crt, issuer.crt); ${START_OVER(dir)}`, fatal: true, run: () => (ca(), ok) },
      { description: 'trust anchors are within their validity period', hint: START_OVER(dir), run: () => withinValidity(ca().anchors, 'trust anchor', START_OVER(dir)) },
      {
        description: `trust anchors are valid for at least 60 days`, hint: START_OVER(dir),
        run: () => validForAWhile(ca().anchors, 'the trust anchor', `plan a new trust anchor before it expires: ${START_OVER(dir)}`),
      },
      {
        description: 'issuer cert is within its validity period', hint: START_OVER(dir),
        run: () => withinValidity(ca().issuerChain, 'issuer certificate', `the CA cannot certify proxies with it; ${START_OVER(dir)}`),
      },
      {
        description: 'issuer cert is valid for at least 60 days', hint: START_OVER(dir),
        run: () => validForAWhile(ca().issuerChain, 'the issuer certificate', `rotate the issuer before it expires: ${START_OVER(dir)}`),
      },
      {
        description: 'issuer cert is issued by the trust anchor', hint: START_OVER(dir),
        run: () => {
          const broken = chainBreak(ca().issuerChain, ca().anchors);
          return broken ? fail(`${join(dir, FILES.issuerCert)}: ${broken} in ${demo.trustAnchorsFile}`, `put back the trust anchor that signed the issuer, or ${START_OVER(dir)}`) : ok;
        },
      },
    ],
  };
}

export function controlPlaneCategory(demo: FoundDemo, ca: () => CaFiles): Category {
  const reach = (what: 'identity' | 'destination', addr: string, log: string) => async () => {
    const problem = await tlsIdentity(addr, ca().anchorsPem, spiffeId(ca().trustDomain, CONTROL_PLANE_NAMESPACE, what));
    return problem
      ? fail(`${what}: ${problem}`, `is the demo's ${what} running? Its log: ${join(demo.dir, 'logs', `${log}.log`)}; restart the demo (Ctrl-C, then npm start)`)
      : ok;
  };
  return {
    name: 'mesh-control-plane',
    checks: [
      { description: `identity is reachable at ${demo.identityAddr} and proves its identity`, hint: 'restart the demo', run: reach('identity', demo.identityAddr, 'identity') },
      { description: `destination is reachable at ${demo.destinationAddr} and proves its identity`, hint: 'restart the demo', run: reach('destination', demo.destinationAddr, 'destination') },
    ],
  };
}

export function resourcesCategory(resourcesDir: string | undefined): Category {
  let problems: ReturnType<ResourceStore['problems']> | undefined;
  const load = () => {
    if (!resourcesDir) throw new Error('the running demo did not publish its resources folder (a demo started before `mesh check` existed)');
    if (!problems) {
      // The destination's own parser and warnings, so check and destination never disagree.
      const store = new ResourceStore({ dir: resourcesDir, logger: pino({ level: 'silent' }) });
      store.load();
      problems = store.problems();
    }
    return problems;
  };
  const hint = `fix the file, resource and field named above; the destination keeps the last good version until then (restart the demo to check again from scratch)`;
  return {
    name: 'mesh-resources',
    checks: [
      {
        description: `every resource in ${resourcesDir ?? 'the destination\'s folder'} is valid`, hint: 'restart the demo with npm start',
        run: () => {
          const errors = load().filter((p) => p.severity === 'error');
          return errors.length ? fail(errors.map((e) => e.message).join('\n'), hint) : ok;
        },
      },
      {
        description: 'the policy has no warnings', hint,
        run: () => {
          const warnings = load().filter((p) => p.severity === 'warning');
          return warnings.length ? warn(warnings.map((w) => w.message).join('\n'), 'each warning names the file, resource and field; the destination applies what it can and says how') : ok;
        },
      },
    ],
  };
}
