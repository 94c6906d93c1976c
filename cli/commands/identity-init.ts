// `mesh identity init`: creates the CA's directory (trust anchor, issuer, token key), or adopts a brought chain.
import { parseArgs } from 'node:util';
import { parseDuration } from '../../identity/duration.ts';
import { IdentityError } from '../../identity/errors.ts';
import { initIdentityDir } from '../../identity/files.ts';

export const summary = 'create the trust anchor, issuer and token key of the identity CA';

const USAGE = `usage: mesh identity init --dir DIR [--trust-domain cluster.local] [--anchor-lifetime 87600h]
                          [--issuer-lifetime 8760h] [--force]
       mesh identity init --dir DIR --trust-anchor ca.crt --issuer-cert issuer.crt --issuer-key issuer.key [--force]`;

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        dir: { type: 'string' },
        'trust-domain': { type: 'string', default: 'cluster.local' },
        'anchor-lifetime': { type: 'string', default: '87600h' },
        'issuer-lifetime': { type: 'string', default: '8760h' },
        'trust-anchor': { type: 'string' },
        'issuer-cert': { type: 'string' },
        'issuer-key': { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`mesh identity init: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.dir) {
    console.error(`mesh identity init: --dir is required\n${USAGE}`);
    return 2;
  }
  const broughtFlags = [values['trust-anchor'], values['issuer-cert'], values['issuer-key']];
  if (broughtFlags.some(Boolean) && !broughtFlags.every(Boolean)) {
    console.error('mesh identity init: --trust-anchor, --issuer-cert and --issuer-key go together');
    return 2;
  }
  try {
    const written = await initIdentityDir(values.dir, {
      trustDomain: values['trust-domain'],
      anchorLifetimeMs: parseDuration(values['anchor-lifetime'], '--anchor-lifetime'),
      issuerLifetimeMs: parseDuration(values['issuer-lifetime'], '--issuer-lifetime'),
      force: values.force,
      brought: values['trust-anchor'] ? { trustAnchor: values['trust-anchor'], issuerCert: values['issuer-cert']!, issuerKey: values['issuer-key']! } : undefined,
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
}
