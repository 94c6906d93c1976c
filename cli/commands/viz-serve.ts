// `mesh viz serve`: the viz API (stat, routes, edges, top, tap) over every registered proxy's
// /metrics and tap, or over a Prometheus, until SIGINT/SIGTERM.
import { durationMs } from '../../destination/store/field-reader.ts';
import { createLogger } from '../../api/log.ts';
import { vizIdentityClient } from '../../viz/identity.ts';
import { PrometheusMetrics } from '../../viz/metrics/prometheus-source.ts';
import { startViz } from '../../viz/viz.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';
import { stopSignal } from '../stop-signal.ts';

export const summary = 'run the viz API (stat, routes, edges, top, tap) over every proxy, on 127.0.0.1:8085';

const USAGE = `usage: mesh viz serve --destination-addr ADDR --identity-addr ADDR --trust-anchors FILE --token-file FILE [options]

  --listen ADDR              the viz API (default 127.0.0.1:8085)
  --dashboard ADDR           the dashboard, a web page (default 127.0.0.1:8084; "off": none).
                             Beyond loopback anyone who reaches it can watch the traffic: it warns
  --ingress-url URL          the demo's front door, for the dashboard's "send a checkout"
  --destination-addr ADDR    where registered pods are listed (the destination, 127.0.0.1:8086)
  --identity-addr ADDR       the CA that certifies the viz as spiffe://<td>/ns/mesh-viz/sa/tap
  --trust-anchors FILE       the mesh's trust anchors (PEM)
  --token-file FILE          a token for service account tap in namespace mesh-viz (mesh identity token)
  --trust-domain TD          default cluster.local
  --scrape-interval D        how often each proxy's /metrics is read (default 5s)
  --prometheus URL           read this Prometheus's HTTP API instead of scraping (mesh viz prometheus-config)
  --admin-port N             the proxies' admin port (default 4191)
  --tap-port N               the proxies' tap port (default 4190)`;

const OPTIONS = {
  listen: { type: 'string', default: '127.0.0.1:8085' },
  dashboard: { type: 'string', default: '127.0.0.1:8084' },
  'ingress-url': { type: 'string' },
  'destination-addr': { type: 'string' },
  'identity-addr': { type: 'string' },
  'trust-anchors': { type: 'string' },
  'token-file': { type: 'string' },
  'trust-domain': { type: 'string', default: 'cluster.local' },
  'scrape-interval': { type: 'string', default: '5s' },
  prometheus: { type: 'string' },
  'admin-port': { type: 'string', default: '4191' },
  'tap-port': { type: 'string', default: '4190' },
} as const;

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag} must be a port (1-65535), got "${text}"`);
  return n;
}

function interval(text: string): number {
  let ms: number;
  try {
    ms = durationMs(text, '--scrape-interval');
  } catch {
    throw new UsageError(`--scrape-interval must be a duration such as 5s, got "${text}"`);
  }
  if (ms < 1_000 || ms > 60_000) throw new UsageError(`--scrape-interval must be between 1s and 60s, got "${text}"`);
  return ms;
}

function httpUrl(text: string | undefined, flag: string): URL | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag} must be a URL such as http://127.0.0.1:8000, got "${text}"`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`${flag} must be an http URL, got "${text}"`);
  return url;
}

function prometheusUrl(text: string | undefined): URL | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--prometheus must be a URL such as http://127.0.0.1:9090, got "${text}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--prometheus must be an http(s) URL, got "${text}"`);
  return url;
}

export function run(args: string[]): Promise<number> {
  return runCommand('viz serve', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS, { required: ['destination-addr', 'identity-addr', 'trust-anchors', 'token-file'] });
    const settings = {
      scrapeIntervalMs: interval(values['scrape-interval']),
      adminPort: port(values['admin-port'], '--admin-port'),
      tapPort: port(values['tap-port'], '--tap-port'),
      prometheus: prometheusUrl(values.prometheus),
      ingressUrl: httpUrl(values['ingress-url'], '--ingress-url'),
    };
    const logger = createLogger('viz');
    let credentials;
    let viz;
    try {
      credentials = vizIdentityClient({
        identityAddr: values['identity-addr'], trustAnchorsFile: values['trust-anchors'], tokenFile: values['token-file'], trustDomain: values['trust-domain'],
      }, logger);
      logger.info({ identity: credentials.identity }, 'waiting for the viz\'s certificate from the identity CA');
      await credentials.whenReady();
      viz = await startViz({
        listen: values.listen, destinationAddr: values['destination-addr'], credentials, trustDomain: values['trust-domain'],
        scrapeIntervalMs: settings.scrapeIntervalMs, adminPort: settings.adminPort, tapPort: settings.tapPort,
        prometheus: settings.prometheus ? new PrometheusMetrics(settings.prometheus) : undefined, logger,
        dashboard: values.dashboard === 'off' ? undefined : { listen: values.dashboard, ingressUrl: settings.ingressUrl?.href.replace(/\/$/, '') },
      });
    } catch (err) {
      logger.fatal({ err }, `viz refused to start: ${(err as Error).message}`);
      console.error(`mesh viz serve: refusing to start: ${(err as Error).message}`);
      credentials?.close();
      return 1;
    }
    console.log(`viz serving on http://${viz.address} as ${credentials.identity}, ${settings.prometheus ? `reading ${settings.prometheus.href}` : `scraping every proxy every ${settings.scrapeIntervalMs / 1000}s`}`);
    if (viz.dashboard) console.log(`dashboard on http://${viz.dashboard.address}`);
    if (viz.dashboard?.warning) console.error(`mesh viz serve: warning: ${viz.dashboard.warning}`);
    logger.info({ signal: await stopSignal() }, 'viz shutting down');
    await viz.close();
    credentials.close();
    return 0;
  });
}
