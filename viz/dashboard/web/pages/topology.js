// Topology: deployments as nodes, calls as edges with their RPS, coloured by success; a lock on
// each mTLS edge (both identities on hover), a red dashed edge where the callee's policy refused
// the calls (the rogue -> orders). Drawn as SVG whose text nodes carry the traffic's names.
import { html } from '../html.js';
import { health, pct, rps, shortId } from '../format.js';
import { layeredLayout, NODE } from '../layout.js';
import { HEALTH_COLOUR } from './overview.js';
import { Lock } from '../lock.js';

/** Refused: at least half the edge's calls were refused by policy. */
const isDenied = (e) => e.deniedRps > 0 && e.deniedRps >= e.rps * 0.5;

export function Topology({ snapshot }) {
  const key = (ns, name) => `${ns}/${name}`;
  const nodes = new Set(snapshot.pods.map((p) => key(p.namespace, p.deployment)));
  const links = snapshot.edges.map((e) => ({ from: key(e.srcNamespace, e.src), to: key(e.dstNamespace, e.dst), edge: e }));
  for (const l of links) nodes.add(l.from).add(l.to);
  // Refused calls do not make the callee a later column: the rogue does not push orders right.
  const layout = layeredLayout([...nodes], links.filter((l) => !isDenied(l.edge)));
  const { positions, width } = layout;
  // Room below the nodes for edges that skip a column.
  const bottom = Math.max(...[...positions.values()].map((p) => p.y + NODE.height));
  const height = layout.height + NODE.rowGap * 2;
  const stat = new Map(snapshot.deployments.map((r) => [key(r.namespace, r.name), r]));
  if (nodes.size === 0) return html`<p class="empty">No deployment has a registered proxy yet.</p>`;
  return html`<section class="topology">
    <p class="legend"><span class="good">■</span> ≥ 99% <span class="warn">■</span> ≥ 95% <span class="bad">■</span> below
      · <${Lock} /> mTLS (hover for both identities) · <span class="bad">- - -</span> refused by policy · last minute</p>
    <svg class="graph" width=${width} height=${height} viewBox=${`0 0 ${width} ${height}`} role="img" aria-label="deployments and the calls between them">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a8f98" /></marker>
      </defs>
      ${links.map((l) => html`<${Edge} link=${l} from=${positions.get(l.from)} to=${positions.get(l.to)} bottom=${bottom} />`)}
      ${[...nodes].map((n) => html`<${Node} id=${n} at=${positions.get(n)} row=${stat.get(n)} />`)}
    </svg>
  </section>`;
}

function Node({ id, at, row }) {
  const [namespace, name] = id.split('/');
  const tone = health(row?.success);
  return html`<a href=${`#/deploy/${namespace}/${name}`}>
    <g class=${`node ${tone}`} data-deployment=${name} transform=${`translate(${at.x},${at.y})`}>
      <title>${`${id}\nsuccess ${pct(row?.success)}, ${rps(row?.rps)}`}</title>
      <rect width=${NODE.width} height=${NODE.height} rx="6" />
      <text x="10" y="17" class="node-name">${name}</text>
      <text x="10" y="32" class="node-stat">${row && row.success !== null ? `${pct(row.success)} · ${rps(row.rps)}` : 'serves nothing'}</text>
    </g>
  </a>`;
}

function Edge({ link, from, to, bottom }) {
  const e = link.edge;
  const denied = isDenied(e);
  const x1 = from.x + NODE.width;
  const y1 = from.y + NODE.height / 2;
  let x2 = to.x;
  const y2 = to.y + NODE.height / 2;
  // Same column (a refused call between neighbours): bend around the right side instead.
  if (x2 <= x1) x2 = to.x + NODE.width;
  const mid = (x1 + x2) / 2;
  // An edge that skips a column bends below the drawing's nodes rather than through them.
  const long = x2 - x1 > NODE.width + NODE.columnGap + 1;
  const low = bottom + NODE.rowGap;
  const d = long ? `M ${x1} ${y1} C ${x1 + 80} ${low}, ${x2 - 80} ${low}, ${x2} ${y2}`
    : x2 > x1 ? `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}` : `M ${x1} ${y1} C ${x1 + 60} ${y1}, ${x2 + 60} ${y2}, ${x2} ${y2}`;
  const colour = denied ? HEALTH_COLOUR.bad : HEALTH_COLOUR[health(e.success)];
  const lx = long ? mid + (y2 - y1) / 4 : x2 > x1 ? mid : x1 + 45;
  const ly = long ? low - 4 + (y2 - y1) / 6 : (y1 + y2) / 2;
  const hover = `${e.src} → ${e.dst}\n${e.secured ? 'mTLS' : `not mTLS: ${e.message}`}\nclient ${e.clientId || '?'}\nserver ${e.serverId || '?'}` +
    `\n${rps(e.rps)}, success ${pct(e.success)}${e.deniedRps > 0 ? `, refused by policy ${rps(e.deniedRps)}` : ''}`;
  return html`<g class=${`edge ${denied ? 'denied' : ''}`} data-src=${e.src} data-dst=${e.dst} data-denied=${String(denied)} data-mtls=${String(e.secured)}>
    <title>${hover}</title>
    <path class="edge-line" d=${d} stroke=${colour} marker-end="url(#arrow)" />
    <text x=${lx} y=${ly - 6} text-anchor="middle" class="edge-label">${denied ? `denied ${rps(e.deniedRps)}` : rps(e.rps)}</text>
    ${e.secured && html`<g class="lock" data-client=${e.clientId} data-server=${e.serverId} transform=${`translate(${lx - 6},${ly + 1})`}>
      <title>${`mTLS\nclient ${e.clientId}\nserver ${e.serverId}`}</title>
      <path d="M 3 6 V 3.5 a 3 3 0 0 1 6 0 V 6" fill="none" stroke="#445" stroke-width="1.4" />
      <rect x="1" y="6" width="10" height="7.5" rx="1.2" fill="#445" />
    </g>`}
  </g>`;
}
