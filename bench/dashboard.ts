// What the dashboard costs the viz: the viz process's CPU with one dashboard open (the overview,
// then the topology) on the demo under `npm run load`, against the same with no page open; and the
// time from navigation to the overview's first rows. Run under the heavy lock (it starts the demo):
//   flock /tmp/mesh-heavy.lock node bin/run.js bench/dashboard.ts
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { launchBrowser } from '../test/viz/dashboard/browser.ts';
import { DASHBOARD, root, startDemo } from '../test/viz/dashboard/demo.ts';

const TICKS = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
}

/** `npm run load` (10 s, 20 connections) against the demo; returns the viz's CPU share of one core meanwhile. */
async function vizCpuDuringLoad(vizPid: number, env: NodeJS.ProcessEnv): Promise<number> {
  const cpu0 = cpuSeconds(vizPid);
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    execFile('npm', ['run', 'load', '--silent'], { cwd: root, env, timeout: 120_000 }, (err) => (err ? reject(err) : resolve()));
  });
  return (cpuSeconds(vizPid) - cpu0) / ((performance.now() - t0) / 1000);
}

const demo = await startDemo();
try {
  const viz = demo.run.processes.find((p) => p.name === 'viz');
  if (!viz) throw new Error('the runner recorded no viz process');
  // The viz runs as `node bin/mesh.js viz serve` in its own process group: the group's leader.
  const vizPid = viz.pid;
  await new Promise((r) => setTimeout(r, 12_000)); // two scrapes
  const idle = await vizCpuDuringLoad(vizPid, demo.env);
  const browser = await launchBrowser();
  try {
    const firstRender: number[] = [];
    for (let i = 0; i < 5; i++) {
      const tab = await browser.open(`${DASHBOARD}/#/overview`);
      await tab.page.locator('tr[data-deployment]').first().waitFor();
      firstRender.push(await tab.page.evaluate(() => performance.now()));
      await tab.page.close();
    }
    const tab = await browser.open(`${DASHBOARD}/#/overview`);
    await tab.page.locator('tr[data-deployment]').first().waitFor();
    const overview = await vizCpuDuringLoad(vizPid, demo.env);
    await tab.page.goto(`${DASHBOARD}/#/topology`);
    await tab.page.locator('g.node').first().waitFor();
    const topology = await vizCpuDuringLoad(vizPid, demo.env);
    const sorted = [...firstRender].sort((a, b) => a - b);
    console.log(JSON.stringify({
      vizCpuShareOfOneCore: { noPageOpen: round(idle), overviewOpen: round(overview), topologyOpen: round(topology) },
      overviewFirstRowsMs: { median: Math.round(sorted[2]!), runs: firstRender.map(Math.round) },
      loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    }, null, 2));
  } finally {
    await browser.close();
  }
} finally {
  demo.stop();
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
