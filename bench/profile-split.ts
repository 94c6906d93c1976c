// A V8 CPU profile (MESH_BENCH_PROFILE) split by the bench's paths (MESH_BENCH_SLICE_LOG): per
// path, the profiled process's busy milliseconds and its heaviest functions by self time, over
// the samples taken inside that path's slices.
//   node bin/run.js bench/profile-split.ts <slices.jsonl> <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [slicesFile, profileFile, topArg] = process.argv.slice(2);
const slices = readFileSync(slicesFile!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { label: string; startUs: number; endUs: number });
const profile = JSON.parse(readFileSync(profileFile!, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const byPath = new Map<string, { seconds: number; busyUs: number; self: Map<string, number> }>();
for (const s of slices) {
  const p = byPath.get(s.label) ?? { seconds: 0, busyUs: 0, self: new Map<string, number>() };
  p.seconds += (s.endUs - s.startUs) / 1e6;
  byPath.set(s.label, p);
}
let at = profile.startTime;
let slice = 0;
const sorted = [...slices].sort((a, b) => a.startUs - b.startUs);
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i]!;
  while (slice < sorted.length && sorted[slice]!.endUs < at) slice++;
  const s = sorted[slice];
  if (!s || at < s.startUs) continue;
  const node = nodes.get(profile.samples[i]!)!;
  const name = node.callFrame.functionName || '(anonymous)';
  if (name === '(idle)') continue;
  // Each sample stands for the time until the next one.
  const us = profile.timeDeltas[i + 1] ?? 0;
  const key = `${name} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber}`;
  const p = byPath.get(s.label)!;
  p.busyUs += us;
  p.self.set(key, (p.self.get(key) ?? 0) + us);
}
const top = Number(topArg ?? 25);
for (const [label, p] of byPath) {
  console.log(`\n${label}: ${(p.busyUs / 1000 / p.seconds).toFixed(0)} ms busy a second over ${p.seconds.toFixed(1)} s of slices`);
  for (const [key, us] of [...p.self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(us / 1000 / p.seconds).toFixed(1).padStart(8)} ms/s  ${key}`);
}
