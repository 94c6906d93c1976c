// Deployment: its pods (ready, restarts, certificate expiry), the edges in and out, its route
// table (effective and actual success and RPS per route: retries are the difference), what its
// Servers admitted and refused, and its live calls (top).
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { health, ms, pct, rps, shortId, us } from '../format.js';
import { useJson } from '../fetch-json.js';
import { openStream } from '../tap-stream.js';
import { Lock } from '../lock.js';

export function Deployment({ snapshot, namespace, name }) {
  if (!namespace || !name) return html`<p class="empty">Pick a deployment on the <a href="#/overview">overview</a>.</p>`;
  return html`<${DeploymentView} snapshot=${snapshot} namespace=${namespace} name=${name} />`;
}

function DeploymentView({ snapshot, namespace, name }) {
  const pods = snapshot.pods.filter((p) => p.namespace === namespace && p.deployment === name);
  const inbound = snapshot.edges.filter((e) => e.dstNamespace === namespace && e.dst === name);
  const outbound = snapshot.edges.filter((e) => e.srcNamespace === namespace && e.src === name);
  const q = `resource=${encodeURIComponent(`deploy/${name}`)}&namespace=${encodeURIComponent(namespace)}`;
  const routes = useJson(`/api/v1/routes?${q}`, snapshot.at);
  const authz = useJson(`/api/v1/authz?${q}`, snapshot.at);
  const row = snapshot.deployments.find((r) => r.namespace === namespace && r.name === name);
  return html`<section class="deployment">
    <h2>deployment <span class="name">${namespace}/${name}</span>
      ${row && html` <span class=${health(row.success)}>${pct(row.success)} · ${rps(row.rps)} · p99 ${ms(row.latencyMs?.p99)}</span>`}</h2>
    <h2>pods</h2>
    <table><thead><tr><th>pod</th><th>address</th><th>identity</th><th>ready</th><th>restarts</th><th>certificate expires</th></tr></thead>
      <tbody>${pods.map((p) => html`<tr data-pod=${p.name}><td class="mono">${p.name}</td><td class="mono">${p.ip}</td><td class="mono">${p.identity}</td>
        <td class=${p.ready ? 'good' : 'bad'}>${p.ready ? 'ready' : 'not ready'}</td><td>${p.restarts}</td>
        <td>${p.certExpiry ? new Date(p.certExpiry).toLocaleString() : '-'}</td></tr>`)}</tbody></table>
    <h2>inbound edges</h2><${Edges} rows=${inbound} side="src" />
    <h2>outbound edges</h2><${Edges} rows=${outbound} side="dst" />
    <h2>routes (served, from the callers' side)</h2>
    ${routes.error ? html`<p class="error-line">${routes.error}</p>` : html`<table class="routes">
      <thead><tr><th>route</th><th>authority</th><th>effective success</th><th>effective RPS</th><th>actual success</th><th>actual RPS</th><th>p99</th></tr></thead>
      <tbody>${(routes.data?.rows ?? []).map((r) => html`<tr><td class="mono">${r.route}</td><td class="mono">${r.authority}</td>
        <td class=${health(r.effective?.success)}>${pct(r.effective?.success)}</td><td>${rps(r.effective?.rps)}</td>
        <td class=${health(r.actual?.success)}>${pct(r.actual?.success)}</td><td>${rps(r.actual?.rps)}</td><td>${ms(r.latencyMs?.p99)}</td></tr>`)}</tbody></table>`}
    <h2>authorization (per Server)</h2>
    ${authz.error ? html`<p class="error-line">${authz.error}</p>` : html`<table>
      <thead><tr><th>server</th><th>authorization</th><th>RPS</th></tr></thead>
      <tbody>${(authz.data?.rows ?? []).map((r) => html`<tr><td class="mono">${r.server}</td>
        <td class=${r.authorization === null ? 'bad' : ''}>${r.authorization ?? `[UNAUTHORIZED] ${r.reason ?? ''}`}</td><td>${rps(r.rps)}</td></tr>`)}</tbody></table>`}
    <h2>live calls (top)</h2>
    <${Top} namespace=${namespace} name=${name} />
  </section>`;
}

function Edges({ rows, side }) {
  if (rows.length === 0) return html`<p class="empty">none in the last minute</p>`;
  return html`<table><thead><tr><th>${side === 'src' ? 'from' : 'to'}</th><th>mTLS</th><th>client</th><th>server</th><th>success</th><th>RPS</th></tr></thead>
    <tbody>${rows.map((e) => html`<tr><td>${e[side]}</td><td>${e.secured ? html`<${Lock} title=${`client ${e.clientId}\nserver ${e.serverId}`} />` : e.message}</td><td class="mono">${shortId(e.clientId)}</td>
      <td class="mono">${shortId(e.serverId)}</td><td class=${e.deniedRps > 0 ? 'bad' : health(e.success)}>${pct(e.success)}${e.deniedRps > 0 ? ' (refused by policy)' : ''}</td><td>${rps(e.rps)}</td></tr>`)}</tbody></table>`;
}

function Top({ namespace, name }) {
  const [rows, setRows] = useState([]);
  const [problem, setProblem] = useState(undefined);
  useEffect(() => openStream('top', { resource: `deploy/${name}`, namespace, maxRps: '20' }, (line) => {
    if (line.type === 'top') setRows(line.rows.slice(0, 15));
    if (line.type === 'error') setProblem(line.message);
  }), [namespace, name]);
  return html`${problem && html`<p class="error-line">${problem}</p>`}
    <table class="top"><thead><tr><th>source</th><th>destination</th><th>method</th><th>path</th><th>count</th><th>best</th><th>worst</th><th>last</th><th>success</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr><td class="mono">${r.source}</td><td class="mono">${r.destination}</td><td>${r.method}</td><td class="mono">${r.path}</td>
      <td>${r.count}</td><td>${us(r.bestUs)}</td><td>${us(r.worstUs)}</td><td>${us(r.lastUs)}</td><td>${r.successes}/${r.successes + r.failures}</td></tr>`)}</tbody></table>`;
}
