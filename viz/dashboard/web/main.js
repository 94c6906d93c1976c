// The dashboard's script: a hash router over small pages, all fed by one live feed (live.js);
// tap and top open streams of their own while their page is shown.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { html } from './html.js';
import { useLive } from './live.js';
import { Overview } from './pages/overview.js';
import { Topology } from './pages/topology.js';
import { Deployment } from './pages/deployment.js';
import { TapPage } from './pages/tap.js';
import { Resources } from './pages/resources.js';
import { JourneyPage } from './pages/journey.js';

const PAGES = [
  ['overview', 'Overview'], ['topology', 'Topology'], ['tap', 'Tap'], ['journey', 'Journey'], ['resources', 'Resources'],
];

function useRoute() {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function Page({ route, snapshot }) {
  const [page, ...rest] = route;
  switch (page || 'overview') {
    case 'overview': return html`<${Overview} snapshot=${snapshot} />`;
    case 'topology': return html`<${Topology} snapshot=${snapshot} />`;
    case 'deploy': return html`<${Deployment} snapshot=${snapshot} namespace=${rest[0]} name=${rest[1]} />`;
    case 'tap': return html`<${TapPage} snapshot=${snapshot} />`;
    case 'journey': return html`<${JourneyPage} snapshot=${snapshot} requestId=${rest[0]} />`;
    case 'resources': return html`<${Resources} snapshot=${snapshot} />`;
    default: return html`<p class="empty">No page "${page}". <a href="#/overview">Overview</a></p>`;
  }
}

function App() {
  const route = useRoute();
  const { snapshot, problem } = useLive();
  const current = route[0] || 'overview';
  return html`
    <header>
      <h1>mesh</h1>
      <nav>${PAGES.map(([id, title]) => html`<a href=${`#/${id}`} class=${current === id ? 'here' : ''}>${title}</a>`)}</nav>
      <span class="status">${problem ? problem : snapshot ? `live · ${new Date(snapshot.at).toLocaleTimeString()}` : 'connecting…'}</span>
    </header>
    <main id="page" data-page=${current}>
      ${snapshot ? html`<${Page} route=${route} snapshot=${snapshot} />` : html`<p class="loading">waiting for the first snapshot…</p>`}
    </main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "loading" line, which preact would keep beside the page
render(html`<${App} />`, root);
