// Every `mesh` subcommand, by the words a user types. Loaded lazily, so `mesh proxy` loads only
// the proxy's code (this keeps each sidecar's memory small); the bundler follows these imports.

export interface Command {
  summary: string;
  run(args: string[]): Promise<number | void>;
}

export const COMMANDS: Record<string, () => Promise<Command>> = {
  proxy: () => import('./proxy.ts'),
  'proxy-init': () => import('./proxy-init.ts'),
  'proxy-await': () => import('./proxy-await.ts'),
  'identity init': () => import('./identity-init.ts'),
  'identity token': () => import('./identity-token.ts'),
  'identity serve': () => import('./identity-serve.ts'),
  'destination serve': () => import('./destination-serve.ts'),
  endpoints: () => import('./endpoints.ts'),
  profile: () => import('./profile.ts'),
  policy: () => import('./policy.ts'),
  inject: () => import('./inject.ts'),
  install: () => import('./install.ts'),
  'injector serve': () => import('./injector-serve.ts'),
  demo: () => import('./demo.ts'),
  node: () => import('./node.ts'),
  'demo prepare': () => import('./demo-prepare.ts'),
  'demo compose': () => import('./demo-compose.ts'),
  pods: () => import('./pods.ts'),
  viz: () => import('./viz.ts'),
  'viz serve': () => import('./viz-serve.ts'),
  'viz stat': () => import('./viz-stat.ts'),
  'viz edges': () => import('./viz-edges.ts'),
  'viz routes': () => import('./viz-routes.ts'),
  'viz authz': () => import('./viz-authz.ts'),
  'viz tap': () => import('./viz-tap.ts'),
  'viz top': () => import('./viz-top.ts'),
  'viz prometheus-config': () => import('./viz-prometheus-config.ts'),
  'viz dashboard': () => import('./viz-dashboard.ts'),
  'viz install': () => import('./viz-install.ts'),
  'rollout restart': () => import('./rollout-restart.ts'),
  'diagnostics proxy-metrics': () => import('./diagnostics-proxy-metrics.ts'),
  load: () => import('./load.ts'),
  check: () => import('./check.ts'),
  'viz check': () => import('./viz-check.ts'),
  version: () => import('./version.ts'),
};
