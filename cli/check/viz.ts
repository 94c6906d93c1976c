// `mesh check`'s and `mesh viz check`'s viz category, over the viz API (api/viz.md): reachable,
// answering as the viz, at this control plane's version, hearing from the destination, and
// scraping every meshed pod of the demo; then whether the proxies run the control plane's version.
import { join } from 'node:path';
import { meshVersion } from '../../api/locate.ts';
import type { FoundDemo } from '../find-demo.ts';
import { httpGet, tcpReach } from './probes.ts';
import { fail, ok, okWith, warn, type Category } from './report.ts';

interface Health {
  version: string;
  destinationAnswered: boolean;
  scrapeIntervalMs: number;
  scrapeRounds: number;
}

interface VizPod {
  namespace: string;
  name: string;
  ready: boolean;
  lastError: string | null;
  proxyVersion: string | null;
}

/** GET a viz API path as JSON; what the viz or its absence said, in words, when it is not 200. */
async function getJson<T>(vizAddr: string, path: string): Promise<T> {
  const res = await httpGet(`http://${vizAddr}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${res.body.trim().slice(0, 200)}`);
  try {
    return JSON.parse(res.body) as T;
  } catch {
    throw new Error(`GET ${path} did not answer JSON`);
  }
}

export function vizCategory(demo: FoundDemo): Category {
  const addr = demo.vizAddr;
  const log = join(demo.dir, 'logs', 'viz.log');
  const restart = `read its log: ${log}; the viz runs with the demo (npm start)`;
  let health: Health | undefined;
  let pods: { controlPlaneVersion: string; pods: VizPod[] } | undefined;
  const meshed = demo.run.pods.filter((p) => p.meshed);
  return {
    name: 'mesh-viz',
    checks: [
      {
        description: `viz is reachable at ${addr}`, hint: restart, fatal: true,
        run: async () => {
          const problem = await tcpReach(addr);
          return problem ? fail(`viz: ${problem}`, `the viz runs with the demo (npm start); alone: mesh viz serve. Is something else on ${addr}?`) : ok;
        },
      },
      {
        description: 'viz API answers', hint: `something else may hold ${addr}; ${restart}`, fatal: true,
        run: async () => {
          health = await getJson<Health>(addr, '/api/v1/health');
          if (typeof health.version !== 'string') return fail(`GET /api/v1/health on ${addr} has no version: not the viz`, `something else holds ${addr}; ${restart}`);
          return ok;
        },
      },
      {
        description: 'viz runs the control plane\'s version', hint: restart,
        run: () => health!.version === meshVersion() ? okWith(health!.version) : warn(`the viz is ${health!.version}, this mesh is ${meshVersion()}`, 'restart the demo so the viz runs the current code'),
      },
      {
        description: 'viz hears from the destination', hint: restart,
        run: () => health!.destinationAnswered ? ok : fail(`the viz has no pod list from the destination at ${demo.destinationAddr} yet`, `is the destination up (see mesh-control-plane above)? ${restart}`),
      },
      {
        description: 'viz scrapes every meshed pod', hint: restart,
        run: async () => {
          pods = await getJson<{ controlPlaneVersion: string; pods: VizPod[] }>(addr, '/api/v1/pods');
          if (!Array.isArray(pods.pods)) return fail('GET /api/v1/pods has no pods list', restart);
          if (health!.scrapeRounds === 0) return warn('the viz has not scraped yet', `wait one scrape interval (${health!.scrapeIntervalMs} ms) and check again`);
          const known = new Map(pods.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
          const problems = meshed.flatMap((p) => {
            const v = known.get(`${p.namespace}/${p.name}`);
            if (!v) return [`${p.namespace}/${p.name}: not registered with the viz`];
            if (v.lastError) return [`${p.namespace}/${p.name}: last scrape failed: ${v.lastError}`];
            return [];
          });
          return problems.length ? fail(problems.join('\n'), `mesh check --proxy shows each proxy; ${restart}`) : okWith(`${meshed.length} pods`);
        },
      },
      {
        description: 'data plane proxies run the control plane\'s version', hint: restart,
        run: () => {
          const stale = (pods?.pods ?? []).filter((p) => p.proxyVersion !== pods!.controlPlaneVersion);
          return stale.length
            ? warn(stale.map((p) => `${p.namespace}/${p.name}: ${p.proxyVersion ?? 'no version reported (older than version reporting)'}`).join('\n'), `restart those pods' proxies (or the demo) to run ${pods!.controlPlaneVersion}`)
            : okWith(pods!.controlPlaneVersion);
        },
      },
    ],
  };
}
