// Journey: one request through every hop and every layer, on a waterfall. The page taps the
// whole namespace with journeys on; the demo's apps pass each request's x-request-id on to the
// services they call, so every proxy's events of one request share it. Pick a request from the
// live list, or send a checkout from here.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { openStream, seenRequests } from '../tap-stream.js';
import { shortId, us } from '../format.js';

export function JourneyPage({ snapshot, requestId }) {
  const namespaces = [...new Set(snapshot.pods.map((p) => p.namespace))].sort();
  const namespace = namespaces.includes('production') ? 'production' : namespaces[0];
  const state = useRef({ pending: false });
  const [ready, setReady] = useState(false);
  const [messages, setMessages] = useState([]);
  const [sent, setSent] = useState(undefined);
  const [, redraw] = useState(0);

  useEffect(() => {
    if (!namespace) return undefined;
    const stop = openStream('tap', { resource: `ns/${namespace}`, journey: 'true', maxRps: '300' }, (line) => {
      // The viz says start once it has asked every proxy; give their taps a moment to be in place
      // before offering to send a request that each of them must see.
      if (line.type === 'start') setTimeout(() => setReady(true), 1000);
      if (line.type === 'error') setMessages((m) => [...m.slice(-3), line.pod ? `${line.pod}: ${line.message}` : line.message]);
      if (line.type === 'closed') setReady(false);
      seenRequests.add(line);
      if (!state.current.pending) {
        state.current.pending = true;
        setTimeout(() => { state.current.pending = false; redraw((n) => n + 1); }, 250);
      }
    });
    return stop;
  }, [namespace]);

  const send = async () => {
    setSent({ waiting: true });
    const res = await fetch('/dashboard/v1/checkout', { method: 'POST', headers: { 'x-mesh-dashboard': '1' } });
    const body = await res.json();
    if (!res.ok) {
      setSent({ error: body.error?.message ?? `the viz answered ${res.status}` });
      return;
    }
    setSent(body);
    location.hash = `#/journey/${encodeURIComponent(body.requestId)}`;
  };

  const byId = new Map();
  for (const r of seenRequests.rows()) {
    if (!r.requestId || r.startedAt === undefined) continue;
    if (!byId.has(r.requestId)) byId.set(r.requestId, []);
    byId.get(r.requestId).push(r);
  }
  const recent = [...byId].slice(0, 30);
  const hops = requestId ? byId.get(requestId) ?? [] : [];
  return html`<section class="journey">
    <p>
      ${snapshot.canSendCheckout && html`<button class="primary" id="send-checkout" disabled=${!ready || sent?.waiting} onClick=${send}>Send a checkout</button> `}
      <span class="note">${ready ? `watching every request in namespace ${namespace}` : 'starting the tap…'}</span>
      ${sent && !sent.waiting && html` <span class=${sent.error || sent.status >= 400 ? 'bad' : 'note'} id="sent-status">${sent.error ?? `checkout answered ${sent.status}`}</span>`}
    </p>
    ${messages.map((m) => html`<p class="error-line">${m}</p>`)}
    <h2>recent requests</h2>
    <div class="picker"><table><tbody>
      ${recent.map(([id, rs]) => {
        const first = [...rs].sort((a, b) => a.startedAt - b.startedAt)[0];
        return html`<tr class=${id === requestId ? 'here' : ''}><td><a href=${`#/journey/${encodeURIComponent(id)}`} class="mono">${id}</a></td>
          <td>${first.method} <span class="mono">${first.path}</span></td><td>${rs.length} hops</td></tr>`;
      })}
    </tbody></table></div>
    ${requestId && html`<h2>journey of <span class="mono">${requestId}</span></h2><${Waterfall} hops=${hops} />`}
  </section>`;
}

function label(h) {
  if (h.direction === 'INBOUND') return `${h.pod} inbound, from ${shortId(h.source?.identity) || h.source?.address || '?'}`;
  return `${h.pod} outbound, to ${h.destination?.service || h.destination?.address || '?'}`;
}

/**
 * Each hop's place on the request's path: a pod's inbound hop comes after the outbound hop that
 * chose that pod, and a pod's outbound hops after its inbound one. Arrival order alone is not
 * enough: a proxy reports a hop when it ends as often as when it starts.
 */
function depths(hops) {
  const podName = (p) => (p ?? '').split('/').pop();
  const depth = new Map(hops.map((h) => [h, 0]));
  for (let round = 0; round < hops.length; round++) {
    let moved = false;
    for (const h of hops) {
      const before = h.direction === 'INBOUND'
        ? hops.filter((o) => o.direction === 'OUTBOUND' && podName(o.destination?.pod) === podName(h.pod))
        : hops.filter((o) => o.direction === 'INBOUND' && o.pod === h.pod);
      const d = before.length ? Math.min(...before.map((o) => depth.get(o))) + 1 : 0;
      if (d > depth.get(h) && d <= hops.length) {
        depth.set(h, d);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return depth;
}

function Waterfall({ hops }) {
  if (hops.length === 0) return html`<p class="empty">No hop of this request was seen yet (tap sees requests from the moment it starts).</p>`;
  const depth = depths(hops);
  const sorted = [...hops].sort((a, b) => depth.get(a) - depth.get(b) || a.startedAt - b.startedAt);
  const t0 = sorted[0].startedAt;
  const endOf = (h) => h.startedAt + (h.durationUs ?? 0) / 1000;
  const total = Math.max(1, ...sorted.map((h) => endOf(h) - t0));
  const at = (ms) => `${Math.max(0, Math.min(100, (ms / total) * 100))}%`;
  return html`<div class="waterfall" data-hops=${sorted.length}>
    <p class="note">${sorted.length} hops over ${total.toFixed(1)} ms. Bars start when the viz heard of each hop; lengths and the layers' times are the proxies' own.</p>
    ${sorted.map((h) => {
      const start = h.startedAt - t0;
      const failed = h.error || (h.status ?? 0) >= 500 || (h.grpcStatus ?? 0) > 0;
      return html`<div class=${`hop ${failed ? 'failed' : ''}`} data-pod=${h.pod} data-direction=${h.direction} data-ended=${h.ended ? 'true' : 'false'}>
        <div class="who"><strong class="mono">${label(h)}</strong><br />
          <span class="mono">${h.method} ${h.path}</span> → ${h.error ? h.error : h.status ?? '…'}${h.durationUs !== undefined ? ` in ${us(h.durationUs)}` : ''}</div>
        <div class="track">
          <div class="bar" style=${{ left: at(start), width: at((h.durationUs ?? 0) / 1000) }}></div>
          ${(h.journey ?? []).map((j) => html`<div class="mark" style=${{ left: at(start + Number(j.atUs) / 1000) }} title=${`${j.layer}: ${j.note}`}></div>`)}
        </div>
        <ol>${(h.journey ?? []).map((j) => html`<li class=${`entry ${j.layer}`} data-layer=${j.layer}><span class="layer">${j.layer}</span> <span class="at">+${us(Number(j.atUs))}</span> ${j.note}</li>`)}
          ${h.journeyDropped > 0 && html`<li class="note">${h.journeyDropped} more entries left out (at most 32 per request)</li>`}
        </ol>
      </div>`;
    })}
  </div>`;
}
