// `mesh identity serve`: runs the CA's gRPC service until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { parseDuration } from '../../identity/duration.ts';
import { IdentityError } from '../../identity/errors.ts';
import { loadIdentityDir } from '../../identity/files.ts';
import { startIdentityServer } from '../../identity/server.ts';
import { createLogger } from '../../proxy/log.ts';

export const summary = 'run the identity CA (gRPC over TLS) from a directory made by `mesh identity init`';

const USAGE = 'usage: mesh identity serve --dir DIR [--addr 127.0.0.1:8080] [--cert-lifetime 24h]';

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        dir: { type: 'string' },
        addr: { type: 'string', default: '127.0.0.1:8080' },
        'cert-lifetime': { type: 'string', default: '24h' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`mesh identity serve: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.dir) {
    console.error(`mesh identity serve: --dir is required\n${USAGE}`);
    return 2;
  }
  const log = createLogger('identity');
  let server;
  try {
    const loaded = loadIdentityDir(values.dir);
    server = await startIdentityServer({
      ...loaded,
      certLifetimeMs: parseDuration(values['cert-lifetime'], '--cert-lifetime'),
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
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'identity CA shutting down');
      void server.close().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
