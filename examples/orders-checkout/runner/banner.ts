// What the runner prints once everything is ready: what runs where, and how to watch and load it.
import type { DemoPlan } from './topology.ts';

/** `netns`: pods in namespaces of their own (`--netns`); the host reaches them through `published` or `ip netns exec`. */
export function banner(plan: DemoPlan, opts: { stateDir: string; netns?: { published: { ingressUrl: string; dashboardAddr: string }; node: string } }): string {
  const row = (p: { name: string; ip: string; serviceAccount: string }, proxy: string, app: string) =>
    `  ${p.name.padEnd(16)} ${p.ip.padEnd(12)} ${p.serviceAccount.padEnd(10)} ${proxy.padEnd(26)} ${app}`;
  const rows = [
    // The front door is the proxy itself (ingress mode): no app, users' requests on its outbound listener.
    row(plan.ingress, 'ingress mode :4143/:4191', `front door ${plan.placement.ingressListen}`),
    ...plan.pods.map((p) => row(p, p.meshed ? 'sidecar :4140/:4143/:4191' : 'no sidecar', `app ${p.ports.map((x) => `${x.containerPort}`).join(',') || '-'}`)),
  ];
  const payments = plan.pods.find((p) => p.workload === 'payments');
  const rogue = plan.pods.find((p) => p.workload === 'rogue');
  const checkout = plan.pods.find((p) => p.workload === 'checkout');
  const ingress = opts.netns?.published.ingressUrl ?? plan.placement.ingressUrl;
  // A pod's address answers only inside the demo's namespaces.
  const inside = opts.netns ? `ip netns exec ${opts.netns.node} ` : '';
  return [
    '',
    'The mesh is up.',
    '',
    `  control plane    identity ${plan.placement.identityAddr}   destination ${plan.placement.destinationAddr}   viz ${plan.placement.vizAddr}`,
    `  dashboard        http://${opts.netns?.published.dashboardAddr ?? (plan.placement.platform === 'compose' ? '127.0.0.1:8084' : plan.placement.dashboardAddr)}   (open it in a browser)`,
    `  ${'pod'.padEnd(16)} ${'address'.padEnd(12)} ${'account'.padEnd(10)} ${'proxy'.padEnd(26)} app`,
    ...rows,
    ...(opts.netns && checkout ? [
      '',
      `Each pod has a network namespace of its own (${opts.netns.node}-<pod>) on a bridge in ${opts.netns.node}; no app has a proxy`,
      'variable: proxy-init\'s iptables rules send its TCP through its sidecar. The front door, viz and dashboard are',
      'forwarded to this machine\'s loopback; everything else answers only inside, for example:',
      `  ip netns exec ${opts.netns.node}-${checkout.name} iptables -t nat -S PROXY_INIT_OUTPUT`,
    ] : []),
    '',
    'Try it:',
    `  curl -s -X POST ${ingress}/checkout -H 'content-type: application/json' -d '{"item":"book","quantity":2}'`,
    `  curl -s ${ingress}/orders            # orders over gRPC, through the mesh`,
    `  curl -s ${ingress}/orders-health     # grpc.health.v1.Health, through the mesh`,
    '',
    'Watch it:',
    '  node bin/mesh.js viz stat deploy      # success rate, RPS and latency per deployment',
    '  node bin/mesh.js pods                 # pods, identities, readiness',
    ...(checkout ? [`  ${inside}curl -s http://${checkout.ip}:4191/metrics | grep -E '^(response_total|retry_total)'`] : []),
    ...(rogue ? [`  ${inside}curl -s http://${rogue.ip}:8080/stats   # the rogue workload, refused by policy`] : []),
    `  tail -f ${opts.stateDir}/logs/*.log`,
    '',
    'Change it:',
    ...(payments ? [`  ${inside}curl -s --http2-prior-knowledge -X POST http://${payments.ip}:8080/config -d '{"failureRate":0.5,"latencyMs":10}'`] : []),
    '  edit examples/orders-checkout/manifests/lesson.yaml (canary weights): the destination picks it up live',
    '',
    'Load it:',
    `  ${inside}npm run load${inside ? ' ' : ' '.repeat(26)}# autocannon, then per-service success rate and latency`,
    `  npx autocannon -c 20 -d 10 -m POST -H 'content-type: application/json' -b '{"item":"book","quantity":1}' ${ingress}/checkout`,
    '',
    'Stop it: Ctrl-C',
    '',
  ].join('\n');
}
