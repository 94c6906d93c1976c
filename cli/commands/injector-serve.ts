// `mesh injector serve`: runs the mutating admission webhook (HTTPS, POST /inject) until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { createLogger } from '../../api/log.ts';
import { namespaceAnnotationsFrom } from '../../injector/namespaces.ts';
import { defaultInjectOptions } from '../../injector/options.ts';
import { startWebhook } from '../../injector/webhook.ts';
import { parseYamlDocuments } from '../../injector/yaml-documents.ts';
import { parseCommandArgs, runCommand, type CommandValues } from '../args.ts';
import { stopSignal } from '../stop-signal.ts';

export const summary = 'run the sidecar injector (HTTPS mutating admission webhook)';

const USAGE = `usage: mesh injector serve --cert FILE --key FILE [--addr 127.0.0.1:8443] [--namespaces FILE] [--proxy-image NAME]
  --cert, --key    PEM certificate and key the webhook serves (the API server must trust the cert)
  --addr           host:port to listen on (default 127.0.0.1:8443; port 0 picks a free one)
  --namespaces     YAML with Namespace objects whose annotations apply (linkerd.io/inject, config.linkerd.io/*)
  --proxy-image    the proxy image, without tag (default ghcr.io/mesh/mesh)`;

const OPTIONS = {
  cert: { type: 'string' },
  key: { type: 'string' },
  addr: { type: 'string', default: '127.0.0.1:8443' },
  namespaces: { type: 'string' },
  'proxy-image': { type: 'string' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('injector serve', USAGE, async () => serve(parseCommandArgs(args, OPTIONS).values));
}

/** Serves until SIGINT/SIGTERM; a missing or unreadable file, or a bad address, is logged and exits 1. */
async function serve(values: CommandValues<typeof OPTIONS>): Promise<number> {
  const logger = createLogger('injector');
  const fail = (message: string): number => {
    logger.error(message);
    console.error(`mesh injector serve: ${message}`);
    return 1;
  };
  if (!values.cert || !values.key) return fail(`--cert and --key are required\n${USAGE}`);
  const addr = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(values.addr);
  if (!addr || Number(addr[2]) > 65535) return fail(`--addr ${values.addr}: expected host:port, such as 127.0.0.1:8443`);

  let cert: Buffer, key: Buffer, namespaces;
  try {
    cert = readFileSync(values.cert);
    key = readFileSync(values.key);
    const docs = values.namespaces ? parseYamlDocuments(readFileSync(values.namespaces, 'utf8'), values.namespaces) : [];
    namespaces = namespaceAnnotationsFrom(docs.map((d) => d.value));
  } catch (err) {
    return fail((err as Error).message);
  }
  const options = defaultInjectOptions({ namespaceAnnotations: (ns) => namespaces.get(ns) });
  if (values['proxy-image']) options.proxy.imageName = values['proxy-image'];

  let webhook;
  try {
    webhook = await startWebhook({ cert, key, host: addr[1]!, port: Number(addr[2]), inject: options, logger });
  } catch (err) {
    return fail(`cannot serve on ${values.addr}: ${(err as Error).message}`);
  }
  logger.info({ url: webhook.url, namespaces: [...namespaces.keys()] }, `injector listening on ${webhook.url}`);
  const signal = await stopSignal();
  await webhook.close();
  logger.info({ signal }, 'injector stopped');
  return 0;
}
