// Overview: per namespace, each deployment's meshed pods, success rate, RPS, latency
// percentiles and a ten-minute RPS sparkline, coloured by success rate.
import { html } from '../html.js';
import { health, ms, pct, rps } from '../format.js';
import { Sparkline } from '../sparkline.js';

export const HEALTH_COLOUR = { good: '#2e9d5b', warn: '#c98a00', bad: '#d33c3c', idle: '#8a8f98' };

export function Overview({ snapshot }) {
  const byNamespace = new Map();
  for (const row of snapshot.deployments) {
    if (!byNamespace.has(row.namespace)) byNamespace.set(row.namespace, []);
    byNamespace.get(row.namespace).push(row);
  }
  if (byNamespace.size === 0) return html`<p class="empty">No deployment has a registered proxy yet.</p>`;
  return html`<section class="overview">
    ${[...byNamespace].sort(([a], [b]) => a.localeCompare(b)).map(([namespace, rows]) => html`
      <h2>namespace <span class="name">${namespace}</span></h2>
      <table class="stat" data-namespace=${namespace}>
        <thead><tr><th>deployment</th><th>meshed</th><th>success</th><th>RPS</th><th>p50</th><th>p95</th><th>p99</th><th>last 10 minutes</th></tr></thead>
        <tbody>${rows.map((r) => html`
          <tr class=${`row health-${health(r.success)}`} data-deployment=${r.name} data-rps=${r.rps}>
            <td><a href=${`#/deploy/${namespace}/${r.name}`}>${r.name}</a></td>
            <td>${r.meshed ? `${r.meshed.ready}/${r.meshed.total}` : '-'}</td>
            <td class="success">${pct(r.success)}</td>
            <td>${rps(r.rps)}</td>
            <td>${ms(r.latencyMs?.p50)}</td><td>${ms(r.latencyMs?.p95)}</td><td>${ms(r.latencyMs?.p99)}</td>
            <td><${Sparkline} series=${snapshot.history[`${namespace}/${r.name}`]} colour=${HEALTH_COLOUR[health(r.success)]} /></td>
          </tr>`)}
        </tbody>
      </table>`)}
  </section>`;
}
