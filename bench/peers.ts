// Mode peers: ../shared/peer-bench/run.sh with this mesh as a peer beside HAProxy, nginx and a bare
// Node pair (wrk, two hops, one run), through bench/peer-setup.sh; prints the harness's table.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BenchMode } from './mode.ts';

const ROOT = resolve(import.meta.dirname, '..');
/** `PEER_BENCH_DIR`, else `../shared/peer-bench` beside the checkout (a worktree under `wt/` looks one level further up). */
const RUN_SH = process.env.PEER_BENCH_DIR
  ? resolve(process.env.PEER_BENCH_DIR, 'run.sh')
  : ([resolve(ROOT, '..', 'shared', 'peer-bench', 'run.sh'), resolve(ROOT, '..', '..', 'shared', 'peer-bench', 'run.sh')].find((p) => existsSync(p)) ?? resolve(ROOT, '..', 'shared', 'peer-bench', 'run.sh'));
const TOOLS = ['haproxy', 'nginx', 'wrk', 'openssl', 'curl'];

export const peersMode: BenchMode = {
  name: 'peers',
  summary: '../shared/peer-bench (HAProxy, nginx, a bare Node pair, direct) with this mesh as a peer, same run',
  async available() {
    if (!existsSync(RUN_SH)) return `no peer bench at ${RUN_SH}`;
    const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
    return missing.length === 0 ? true : `missing ${missing.join(', ')} (apt-get install haproxy nginx wrk)`;
  },
  async run(ctx) {
    const results = join(ctx.logDir, 'peers.txt');
    const env = {
      ...process.env,
      MESH_CMD_SETUP: join(ROOT, 'bench', 'peer-setup.sh'),
      MESH_REPO: ROOT,
      RESULTS: results,
      DURATION: String(ctx.durationSeconds),
      CONNS: String(ctx.connections),
      FR_RATE: String(ctx.rate),
    };
    ctx.log(`running ${RUN_SH} (its progress below; ROUNDS, PEERS and the other knobs of its README pass through)...`);
    const child = spawn('bash', [RUN_SH], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    ctx.onCleanup(async () => {
      if (child.exitCode === null) child.kill('SIGTERM'); // run.sh stops every process it started, by PID
    });
    child.stderr.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line) ctx.log(`  ${line}`);
    });
    // 'close', not 'exit': stderr is read to its end first.
    const code = await new Promise<number | null>((done) => child.on('close', done));
    if (code !== 0) throw new Error(`${RUN_SH} exited ${code}; its work dir is kept (see the lines above)`);
    const table = readFileSync(results, 'utf8');
    ctx.log('');
    ctx.log(table);
    return { table };
  },
};
