// bench/hops-preload.mjs, which bench/hops.ts loads into both proxies, counts what a process
// schedules and names who scheduled it: a real Node process with the preload, doing a known
// number of each kind of hop per "request", must report exactly those, per window, by caller.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const preload = fileURLToPath(new URL('../../bench/hops-preload.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hops-preload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The child: on each line from its parent, one round of 10 "requests" (each 2 nextTicks, one
// immediate, one timer set and cleared, one microtask), then SIGUSR2 to itself and "done".
const child = `
function request() {
  process.nextTick(() => {});
  process.nextTick(() => {});
  setImmediate(() => {});
  clearTimeout(setTimeout(() => {}, 1000));
  queueMicrotask(() => {});
}
process.stdin.on('data', () => {
  for (let i = 0; i < 10; i++) request();
  setImmediate(() => { process.kill(process.pid, 'SIGUSR2'); setImmediate(() => console.log('done')); });
});
`;

it('counts each kind of hop per window, with the line that scheduled it', async () => {
  const out = join(dir, 'hops');
  const proc = spawn(process.execPath, [`--import=${preload}`, '-e', child], { env: { ...process.env, MESH_HOPS_OUT: out }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  proc.stdout!.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  const round = async () => {
    const before = lines.length;
    proc.stdin!.write('go\n');
    while (lines.length === before) await new Promise((r) => setTimeout(r, 10));
    return JSON.parse(readFileSync(`${out}.${proc.pid}.json`, 'utf8')) as Record<string, number>;
  };
  try {
    await round(); // start-up's own hops fall in the first window
    const counts = await round();
    const from = (name: string) => Object.entries(counts).filter(([k]) => k.startsWith(`${name} from request (`)).reduce((a, [, n]) => a + n, 0);
    expect(from('nextTick')).toBe(20);
    expect(from('setImmediate')).toBe(10);
    expect(from('setTimeout')).toBe(10);
    expect(from('clearTimeout')).toBe(10);
    expect(from('queueMicrotask')).toBe(10);
    // async_hooks' side: at least what the requests made (the round's own setImmediates add to it).
    expect(counts['made TickObject']).toBeGreaterThanOrEqual(20);
    expect(counts['made Timeout']).toBeGreaterThanOrEqual(10);
    expect(counts['made Microtask']).toBe(10);
  } finally {
    proc.kill();
    await once(proc, 'exit');
  }
});
