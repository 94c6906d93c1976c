// `npm run chaos [-- --backoff 10 --rate 20 --settle 5 --only destination --repeat 3 --keep --json out.json --manifests DIR]`: the chaos suite against a demo of its
// own (in 127.0.31.0/24), with the figures of each fault and the bars; exit 1 if one fails.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { countFlag, positiveFlag } from '../../cli/args.ts';
import { runChaos } from './chaos.ts';

const { values } = parseArgs({
  options: {
    backoff: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20' },
    settle: { type: 'string', default: '5' },
    net: { type: 'string', default: '127.0.31' },
    only: { type: 'string', multiple: true },
    repeat: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
    manifests: { type: 'string' },
  },
});
const stateDir = mkdtempSync(join(tmpdir(), 'mesh-chaos-'));
let keep = values.keep!;
const root = join(import.meta.dirname, '../..');
try {
  const backoff = positiveFlag(values.backoff!, '--backoff');
  const { results, bars } = await runChaos({
    root, net: values.net!, stateDir, backoffSeconds: backoff, rate: positiveFlag(values.rate!, '--rate'), settleMs: positiveFlag(values.settle!, '--settle') * 1000,
    only: values.only, repeat: countFlag(values.repeat!, '--repeat'), manifestsDir: values.manifests,
    say: (l) => console.log(l),
  });
  if (values.json) writeFileSync(values.json, JSON.stringify({ results, bars }, null, 2));
  console.log(`\n${results.length} faults, restart back-off ${backoff} s`);
  for (const b of bars) console.log(`${b.ok ? 'PASS' : 'FAIL'}  ${b.fault.padEnd(34)} ${b.bar}`);
  process.exitCode = bars.every((b) => b.ok) ? 0 : 1;
  if (process.exitCode) keep = true;
} catch (err) {
  console.error(`chaos: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  // A failed bar leaves the demo's logs for reading.
  if (keep) console.log(`the demo's state and logs: ${stateDir}`);
  else rmSync(stateDir, { recursive: true, force: true });
}
