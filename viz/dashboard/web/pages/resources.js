// Resources: every document the destination holds, as YAML, with its state (applied, applied
// with warnings, or refused with the field path), and for each Server the authorizations that
// apply and what its proxies admitted and refused lately. Read again at each live snapshot.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { useJson } from '../fetch-json.js';
import { rps } from '../format.js';

const STATE_TEXT = { applied: 'applied', warnings: 'applied with warnings', refused: 'refused' };

export function Resources({ snapshot }) {
  const { data, error } = useJson('/api/v1/resources', snapshot.at);
  const [open, setOpen] = useState(() => new Set());
  if (error) return html`<p class="error-line">${error}</p>`;
  if (!data) return html`<p class="loading">asking the destination…</p>`;
  const toggle = (key) => {
    const next = new Set(open);
    next.has(key) ? next.delete(key) : next.add(key);
    setOpen(next);
  };
  const counts = { applied: 0, warnings: 0, refused: 0 };
  for (const r of data.resources) counts[r.state]++;
  return html`<section class="resources">
    <p class="note">${data.resources.length} documents: ${counts.applied} applied, ${counts.warnings} with warnings, ${counts.refused} refused. Click one for its YAML.</p>
    <table>
      <thead><tr><th>kind</th><th>namespace/name</th><th>file</th><th>state</th><th>problems</th></tr></thead>
      <tbody>${data.resources.map((r) => {
        const key = `${r.file}|${r.kind}|${r.namespace}|${r.name}`;
        return html`
          <tr class="resource-row" data-kind=${r.kind} data-name=${r.name} data-state=${r.state} onClick=${() => toggle(key)}>
            <td>${r.kind || '(file)'}</td><td class="mono">${r.kind ? `${r.namespace}/${r.name}` : ''}</td><td class="mono">${r.file}</td>
            <td><span class=${`badge ${r.state}`}>${STATE_TEXT[r.state]}</span></td>
            <td class="mono problems">${r.problems.map((p) => html`<div>${p}</div>`)}</td>
          </tr>
          ${r.kind === 'Server' && html`<tr class="server-row"><td></td><td colspan="4"><${ServerFacts} server=${r} /></td></tr>`}
          ${open.has(key) && html`<tr><td colspan="5"><pre class="yaml">${r.yaml || '(the file did not parse)'}</pre></td></tr>`}`;
      })}</tbody>
    </table>
  </section>`;
}

function ServerFacts({ server }) {
  return html`<div class="server-facts" data-server=${server.name}>
    <div>authorizations: ${server.authorizations.length ? server.authorizations.join(', ') : html`<span class="warn">none: only the default policy applies</span>`}</div>
    <div>admitted (last minute): ${server.admitted?.length ? server.admitted.map((a) => `${a.authorization} ${rps(a.rps1m)}`).join(', ') : 'nothing'}</div>
    <div>refused: ${server.denials?.length
      ? html`<span class="bad">${server.denials.map((d) => `${d.reason}: ${rps(d.rps1m)} in the last minute, ${rps(d.rps10m)} over ten minutes`).join('; ')}</span>`
      : 'nothing in the last ten minutes'}</div>
  </div>`;
}
