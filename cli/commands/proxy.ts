// `mesh proxy`: runs one sidecar proxy until SIGTERM/SIGINT or POST /shutdown, then drains and exits 0.
// `mesh proxy` runs the proxy itself: its settings and its lifecycle are the proxy's own code.
import { ConfigError, loadConfig, SETTINGS } from '../../proxy/config.ts';
import { LoadWindow } from '../../proxy/load-window.ts';
import { Proxy } from '../../proxy/proxy.ts';

export const summary = 'run a sidecar proxy (outbound 4140, inbound 4143, admin 4191, tap 4190)';

function help(): string {
  const rows = SETTINGS.map((s) => `  ${(s.kind === 'bool' ? s.flag : `${s.flag} <${s.kind}>`).padEnd(32)} ${s.env.padEnd(34)} ${s.help}${s.default ? ` (default ${s.default})` : ''}`);
  return ['usage: mesh proxy [options]   (each option also reads the environment variable beside it; flags win)', '', ...rows, '', 'log level: MESH_LOG_LEVEL or LOG_LEVEL (default info)'].join('\n');
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(help());
    return 0;
  }
  let config;
  let proxy: Proxy;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  try {
    config = loadConfig(args);
    // The constructor checks the identity settings (anchors file readable, a token, a SPIFFE id).
    proxy = new Proxy(config, { onStopped: resolveStopped });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`mesh proxy: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const stop = (signal: string) => void proxy.shutdown(signal);
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Started: bin/mesh.js (it kept V8's optimizing compiler off while the modules loaded) turns the
  // compiler on once the proxy is busy, judged by its load (bin/optimize-when-busy.js reads this window).
  proxy.start().then(() => (process as NodeJS.EventEmitter).emit('mesh:proxy-started', new LoadWindow(() => proxy.requestsStarted)), (err: Error) => {
    proxy.logger.fatal({ err }, `proxy failed to start: ${err.message}`);
    if (err instanceof ConfigError) console.error(`mesh proxy: ${err.message}`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  });
  await stopped;
  // Open handles (an idle discovery stream, a timer) must not keep a stopped proxy alive.
  setImmediate(() => process.exit(0));
  return 0;
}
