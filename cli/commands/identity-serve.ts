// `mesh identity serve`: runs the CA's gRPC service until SIGINT/SIGTERM.
import { IdentityError } from '../../identity/errors.ts';
import { loadIdentityDir } from '../../identity/files.ts';
import { startIdentityServer } from '../../identity/server.ts';
import { createLogger } from '../../api/log.ts';
import { durationFlag, parseCommandArgs, runCommand } from '../args.ts';
import { stopSignal } from '../stop-signal.ts';

export const summary = 'run the identity CA (gRPC over TLS) from a directory made by `mesh identity init`';

const USAGE = 'usage: mesh identity serve --dir DIR [--addr 127.0.0.1:8080] [--cert-lifetime 24h]';

const OPTIONS = {
  dir: { type: 'string' },
  addr: { type: 'string', default: '127.0.0.1:8080' },
  'cert-lifetime': { type: 'string', default: '24h' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('identity serve', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS, { required: ['dir'] });
    const log = createLogger('identity');
    let server;
    try {
      server = await startIdentityServer({
        ...loadIdentityDir(values.dir),
        certLifetimeMs: durationFlag(values['cert-lifetime'], '--cert-lifetime'),
        addr: values.addr,
        logger: log,
      });
    } catch (err) {
      // Refusing to start is the point: a CA with a bad chain would issue certificates no peer accepts.
      const code = err instanceof IdentityError ? `${err.code}: ` : '';
      log.fatal({ err }, `identity CA refused to start: ${code}${(err as Error).message}`);
      console.error(`mesh identity serve: refusing to start: ${code}${(err as Error).message}`);
      return 1;
    }
    log.info({ signal: await stopSignal() }, 'identity CA shutting down');
    await server.close();
    return 0;
  });
}
