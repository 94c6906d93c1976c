// `mesh identity init`: creates the CA's directory (trust anchor, issuer, token key), or adopts a brought chain.
import { IdentityError } from '../../identity/errors.ts';
import { initIdentityDir } from '../../identity/files.ts';
import { durationFlag, parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'create the trust anchor, issuer and token key of the identity CA';

const USAGE = `usage: mesh identity init --dir DIR [--trust-domain cluster.local] [--anchor-lifetime 87600h]
                          [--issuer-lifetime 8760h] [--force]
       mesh identity init --dir DIR --trust-anchor ca.crt --issuer-cert issuer.crt --issuer-key issuer.key [--force]`;

const OPTIONS = {
  dir: { type: 'string' },
  'trust-domain': { type: 'string', default: 'cluster.local' },
  'anchor-lifetime': { type: 'string', default: '87600h' },
  'issuer-lifetime': { type: 'string', default: '8760h' },
  'trust-anchor': { type: 'string' },
  'issuer-cert': { type: 'string' },
  'issuer-key': { type: 'string' },
  force: { type: 'boolean', default: false },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('identity init', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS, { required: ['dir'] });
    const { 'trust-anchor': trustAnchor, 'issuer-cert': issuerCert, 'issuer-key': issuerKey } = values;
    const brought = trustAnchor && issuerCert && issuerKey ? { trustAnchor, issuerCert, issuerKey } : undefined;
    if (!brought && (trustAnchor || issuerCert || issuerKey)) throw new UsageError('--trust-anchor, --issuer-cert and --issuer-key go together');
    try {
      const written = await initIdentityDir(values.dir, {
        trustDomain: values['trust-domain'],
        anchorLifetimeMs: durationFlag(values['anchor-lifetime'], '--anchor-lifetime'),
        issuerLifetimeMs: durationFlag(values['issuer-lifetime'], '--issuer-lifetime'),
        force: values.force,
        brought,
      });
      console.log(`identity CA for trust domain ${values['trust-domain']} written:\n${written.map((p) => `  ${p}`).join('\n')}`);
      return 0;
    } catch (err) {
      if (err instanceof IdentityError) {
        console.error(`mesh identity init: ${err.code}: ${err.message}`);
        return 1;
      }
      throw err;
    }
  });
}
