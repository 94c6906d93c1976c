// `mesh identity token`: mints a service-account token a proxy presents to the CA (printed on stdout).
import { IdentityError } from '../../identity/errors.ts';
import { readTokenSigningKey } from '../../identity/files.ts';
import { mintToken, TokenError } from '../../identity/token.ts';
import { durationFlag, parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'print a service-account token for a workload (signed by the CA directory\'s token key)';

const USAGE = 'usage: mesh identity token --dir DIR --namespace NS --service-account SA [--ttl 24h]';

const OPTIONS = {
  dir: { type: 'string' },
  namespace: { type: 'string' },
  'service-account': { type: 'string' },
  ttl: { type: 'string', default: '24h' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('identity token', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS, { required: ['dir', 'namespace', 'service-account'] });
    try {
      const workload = { namespace: values.namespace, serviceAccount: values['service-account'] };
      console.log(mintToken(readTokenSigningKey(values.dir), workload, { ttlMs: durationFlag(values.ttl, '--ttl') }));
      return 0;
    } catch (err) {
      if (err instanceof IdentityError || err instanceof TokenError) {
        console.error(`mesh identity token: ${err.code}: ${err.message}`);
        return 1;
      }
      throw err;
    }
  });
}
