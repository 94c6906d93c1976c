// `mesh profile <authority>`: the routes, retry budget and HTTPRoute rules proxies get for a service.
import type * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { CONNECTION_USAGE, connect, parse, printStream, UsageError } from '../../destination/cli/read-stream.ts';
import { profileFromWire } from '../../proxy/discovery/destination-wire.ts';

export const summary = 'print (or follow with -w) the profile (routes, retries, timeouts, splits) the destination streams for an authority';

const USAGE = `usage: mesh profile <authority> [--namespace NS] [-w]
  --namespace NS     the caller's namespace: short names, and consumer HTTPRoutes (default "default")
${CONNECTION_USAGE}`;

export async function run(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(args, { namespace: { type: 'string', short: 'n', default: 'default' } });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('exactly one authority is required');
    const stubs = connect(values);
    const call = stubs.destination.getProfile({ authority: positionals[0], contextNamespace: values.namespace }) as grpc.ClientReadableStream<unknown>;
    return await printStream(call, stubs, values.watch, (m) => {
      const profile = profileFromWire(m);
      return values.json ? JSON.stringify(profile) : `---\n${stringify(profile).trimEnd()}`;
    });
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`mesh profile: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
