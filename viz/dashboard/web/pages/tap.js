// Tap: the CLI's filters, start and stop buttons, and a live list of requests whose rows open to
// their headers (the proxies send authorization, cookie and the like as "[redacted]"). The rate
// is capped (max RPS, shared by the tapped proxies) and the page says how many were dropped.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { openStream, RequestTable, seenRequests } from '../tap-stream.js';
import { us } from '../format.js';
import { Lock } from '../lock.js';

const SHOWN = 200;

export function TapPage({ snapshot }) {
  const deployments = [...new Set(snapshot.pods.map((p) => p.deployment))].sort();
  const namespaces = [...new Set(snapshot.pods.map((p) => p.namespace))].sort();
  const [filters, setFilters] = useState({ resource: `deploy/${deployments.includes('checkout') ? 'checkout' : deployments[0] ?? ''}`, namespace: namespaces[0] ?? '', to: '', method: '', path: '', authority: '', maxRps: '20' });
  const [running, setRunning] = useState(false);
  const [, redraw] = useState(0);
  const state = useRef({ table: new RequestTable(SHOWN), messages: [], stop: undefined, pending: false });
  const [open, setOpen] = useState(() => new Set());

  // Redraw at most five times a second, however fast events come.
  const later = () => {
    if (state.current.pending) return;
    state.current.pending = true;
    setTimeout(() => { state.current.pending = false; redraw((n) => n + 1); }, 200);
  };
  const start = () => {
    state.current.stop?.();
    state.current.table = new RequestTable(SHOWN);
    state.current.messages = [];
    setRunning(true);
    // The page's own cap: a browser table redraws well at a hundred requests a second, not more.
    const maxRps = String(Math.min(100, Math.max(1, Number(filters.maxRps) || 20)));
    state.current.stop = openStream('tap', { ...filters, maxRps, journey: 'true' }, (line) => {
      if (line.type === 'event' || line.type === 'end') {
        state.current.table.add(line);
        seenRequests.add(line);
      }
      if (line.type === 'start') state.current.messages.push({ kind: 'note', text: `tapping ${line.pods.join(', ')}${line.skipped.length ? `; skipped ${line.skipped.map((s) => `${s.pod} (${s.why})`).join(', ')}` : ''}` });
      if (line.type === 'error') state.current.messages.push({ kind: 'error', text: line.pod ? `${line.pod}: ${line.message}` : line.message });
      if (line.type === 'end') state.current.messages.push({ kind: 'note', text: line.message });
      if (line.type === 'closed') setRunning(false);
      later();
    });
  };
  const stop = () => {
    state.current.stop?.();
    state.current.stop = undefined;
    setRunning(false);
  };
  useEffect(() => () => state.current.stop?.(), []);
  const set = (name) => (e) => setFilters({ ...filters, [name]: e.currentTarget.value });
  const toggle = (key) => {
    const next = new Set(open);
    next.has(key) ? next.delete(key) : next.add(key);
    setOpen(next);
  };
  const { table, messages } = state.current;
  const rows = table.rows();
  const dropped = table.dropped();
  return html`<section class="tap">
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); start(); }}>
      <label>resource<select name="resource" value=${filters.resource} onChange=${set('resource')}>
        ${deployments.map((d) => html`<option value=${`deploy/${d}`}>deploy/${d}</option>`)}
        ${namespaces.map((n) => html`<option value=${`ns/${n}`}>ns/${n}</option>`)}
      </select></label>
      <label>namespace<select name="namespace" value=${filters.namespace} onChange=${set('namespace')}>${namespaces.map((n) => html`<option>${n}</option>`)}</select></label>
      <label>to<input name="to" placeholder="deploy/orders-stable" value=${filters.to} onInput=${set('to')} /></label>
      <label>method<input name="method" placeholder="POST" value=${filters.method} onInput=${set('method')} /></label>
      <label>path<input name="path" placeholder="/checkout" value=${filters.path} onInput=${set('path')} /></label>
      <label>authority<input name="authority" value=${filters.authority} onInput=${set('authority')} /></label>
      <label>max RPS<input name="maxRps" type="number" min="1" max="100" value=${filters.maxRps} onInput=${set('maxRps')} /></label>
      <button type="submit" class="primary" id="tap-start" disabled=${running}>Start</button>
      <button type="button" id="tap-stop" disabled=${!running} onClick=${stop}>Stop</button>
    </form>
    <p class="note">${running ? 'tapping…' : 'stopped'} · ${rows.length} requests shown (the newest ${SHOWN})
      ${dropped > 0 && html` · <span class="dropped" id="tap-dropped">${dropped} requests dropped by the rate cap or a slow reader</span>`}</p>
    ${messages.slice(-5).map((m) => html`<p class=${m.kind === 'error' ? 'error-line' : 'note'}>${m.text}</p>`)}
    <table class="tap-table">
      <thead><tr><th>pod</th><th>dir</th><th>from</th><th>to</th><th>tls</th><th>method</th><th>path</th><th>status</th><th>latency</th><th></th></tr></thead>
      <tbody>${rows.map((r) => html`
        <tr class="tap-row" data-key=${r.key} onClick=${() => toggle(r.key)}>
          <td class="mono">${r.pod}</td>
          <td>${r.direction === 'INBOUND' ? 'in' : 'out'}</td>
          <td class="mono">${r.source?.pod || r.source?.address || ''}</td>
          <td class="mono">${r.destination?.pod || r.destination?.service || r.destination?.address || ''}</td>
          <td>${r.tls && html`<${Lock} title="mTLS" />`}</td>
          <td>${r.method ?? ''}</td>
          <td class="mono path">${r.path ?? ''}</td>
          <td class=${r.status >= 500 || r.error ? 'bad' : ''}>${r.error ? r.error : r.grpcStatus !== undefined ? `${r.status} grpc ${r.grpcStatus}` : r.status ?? '…'}</td>
          <td>${r.durationUs !== undefined ? us(r.durationUs) : r.latencyUs !== undefined ? us(r.latencyUs) : ''}</td>
          <td>${r.requestId && html`<a href=${`#/journey/${encodeURIComponent(r.requestId)}`} onClick=${(e) => e.stopPropagation()}>journey</a>`}</td>
        </tr>
        ${open.has(r.key) && html`<tr class="headers-row"><td colspan="10" class="headers"><${Headers} request=${r} /></td></tr>`}`)}
      </tbody>
    </table>
  </section>`;
}

/** The path with its percent-escapes undone, for reading (still shown as text). */
function decoded(path) {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function Headers({ request }) {
  const list = (title, headers) => html`<table class="header-list"><tbody>
    <tr><th colspan="2">${title}</th></tr>
    ${(headers ?? []).map((h) => html`<tr><td class="mono">${h.name}</td><td class=${`mono ${h.value === '[redacted]' ? 'redacted' : ''}`}>${h.value}</td></tr>`)}
  </tbody></table>`;
  return html`<div>
    <p class="mono">${request.method} ${request.authority}${request.path} · route ${request.route || '-'} · ${request.errorMessage ?? ''}</p>
    ${request.path && decoded(request.path) !== request.path && html`<p class="mono">path, decoded: ${decoded(request.path)}</p>`}
    ${list('request headers', request.requestHeaders)}
    ${list('response headers', request.responseHeaders)}
  </div>`;
}
