// `mesh profile <authority>`: the routes, retry budget and HTTPRoute rules proxies get for a service.
import type * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { CONNECTION_USAGE, connect, parse, printStream } from '../../destination/cli/read-stream.ts';
import type { ProfileUpdateMessage } from '../../api/destination-messages.ts';
import { profileFromWire } from '../../api/destination-wire.ts';
import { runCommand } from '../args.ts';

export const summary = 'print (or follow with -w) the profile (routes, retries, timeouts, splits) the destination streams for an authority';

const USAGE = `usage: mesh profile <authority> [--namespace NS] [-w]
  --namespace NS     the caller's namespace: short names, and consumer HTTPRoutes (default "default")
${CONNECTION_USAGE}`;

export function run(args: string[]): Promise<number> {
  return runCommand('profile', USAGE, async () => {
    const { values, positionals } = parse(args, { namespace: { type: 'string', short: 'n', default: 'default' } }, 1, 'one authority');
    const stubs = connect(values);
    const call = stubs.destination.getProfile({ authority: positionals[0], contextNamespace: values.namespace }) as grpc.ClientReadableStream<ProfileUpdateMessage>;
    return await printStream(call, stubs, values.watch, (m) => {
      const profile = profileFromWire(m);
      return values.json ? JSON.stringify(profile) : `---\n${stringify(profile).trimEnd()}`;
    });
  });
}
