// `mesh identity token`: mints a service-account token a proxy presents to the CA (printed on stdout).
import { parseArgs } from 'node:util';
import { parseDuration } from '../../identity/duration.ts';
import { IdentityError } from '../../identity/errors.ts';
import { readTokenSigningKey } from '../../identity/files.ts';
import { mintToken, TokenError } from '../../identity/token.ts';

export const summary = 'print a service-account token for a workload (signed by the CA directory\'s token key)';

const USAGE = 'usage: mesh identity token --dir DIR --namespace NS --service-account SA [--ttl 24h]';

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        dir: { type: 'string' },
        namespace: { type: 'string' },
        'service-account': { type: 'string' },
        ttl: { type: 'string', default: '24h' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`mesh identity token: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const missing = (['dir', 'namespace', 'service-account'] as const).filter((k) => !values[k]);
  if (missing.length > 0) {
    console.error(`mesh identity token: missing ${missing.map((k) => `--${k}`).join(', ')}\n${USAGE}`);
    return 2;
  }
  try {
    const token = mintToken(readTokenSigningKey(values.dir!), { namespace: values.namespace!, serviceAccount: values['service-account']! }, {
      ttlMs: parseDuration(values.ttl, '--ttl'),
    });
    console.log(token);
    return 0;
  } catch (err) {
    if (err instanceof IdentityError || err instanceof TokenError) {
      console.error(`mesh identity token: ${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
