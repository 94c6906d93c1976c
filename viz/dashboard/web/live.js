// The page's one live feed: a single EventSource on /dashboard/v1/live, shared by every page.
// Each snapshot replaces the last; components read it through useLive().
import { useEffect, useState } from 'preact/hooks';

let latest;
let problem;
const listeners = new Set();
let source;

function connect() {
  source = new EventSource('/dashboard/v1/live');
  source.addEventListener('snapshot', (e) => {
    latest = JSON.parse(e.data);
    problem = undefined;
    for (const l of listeners) l();
  });
  source.addEventListener('problem', (e) => {
    problem = JSON.parse(e.data).message;
    for (const l of listeners) l();
  });
  source.addEventListener('error', () => {
    problem = 'the live feed is reconnecting…';
    for (const l of listeners) l();
  });
}

/** The latest snapshot (undefined until the first arrives) and the feed's trouble, if any. */
export function useLive() {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!source) connect();
    const l = () => setTick((n) => n + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return { snapshot: latest, problem };
}
