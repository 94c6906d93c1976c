// Mode peers: ../shared/peer-bench/run.sh with this mesh as a peer beside HAProxy, nginx and a bare
// Node pair (wrk, two hops, one run), through bench/peer-setup.sh; prints the harness's table.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BenchContext, BenchMode } from './mode.ts';

export const ROOT = resolve(import.meta.dirname, '..');
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
    const table = await runPeerBench(ctx, { MESH_CMD_SETUP: join(ROOT, 'bench', 'peer-setup.sh') }, 'peers.txt');
    ctx.log('');
    ctx.log(table);
    return { table };
  },
};

/**
 * One run of ../shared/peer-bench/run.sh (its progress logged, its knobs passed through from the
 * environment, `env` over them); resolves to its table. `resultsName` names the table's file in the log dir.
 */
export async function runPeerBench(ctx: BenchContext, env: Record<string, string>, resultsName: string): Promise<string> {
  const results = join(ctx.logDir, resultsName);
  const fullEnv = {
    ...process.env,
    MESH_REPO: ROOT,
    RESULTS: results,
    DURATION: String(ctx.durationSeconds),
    CONNS: String(ctx.connections),
    FR_RATE: String(ctx.rate),
    ...env,
  };
  ctx.log(`running ${RUN_SH} (its progress below; ROUNDS, PEERS and the other knobs of its README pass through)...`);
  const child = spawn('bash', [RUN_SH], { env: fullEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  ctx.onCleanup(async () => {
    if (child.exitCode === null) child.kill('SIGTERM'); // run.sh stops every process it started, by PID
  });
  child.stderr.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) ctx.log(`  ${line}`);
  });
  // 'close', not 'exit': stderr is read to its end first.
  const code = await new Promise<number | null>((done) => child.on('close', done));
  if (code !== 0) throw new Error(`${RUN_SH} exited ${code}; its work dir is kept (see the lines above)`);
  return readFileSync(results, 'utf8');
}

/** One row of run.sh's table: a peer in one round. */
export interface PeerRow {
  peer: string;
  round: number;
  rps: number;
  xDirect: number;
  at1kP50Ms: number;
  at1kP99Ms: number;
  /** Both sidecars' CPU per 1,000 requests, saturated and at ~1,000 req/s (NaN for direct). */
  cpuSat: number;
  cpuAt1k: number;
  rssMb: number;
  errors: number;
}

/** The per-round rows of run.sh's table (its mean rows left out), in the order of its columns. */
export function peerRows(table: string): PeerRow[] {
  const rows: PeerRow[] = [];
  for (const line of table.split('\n')) {
    const cells = line.trim().split(/\s+/);
    if (cells.length !== 14 || !/^\d+$/.test(cells[1]!)) continue;
    const n = (i: number) => (cells[i] === '-' ? Number.NaN : Number(cells[i]));
    rows.push({
      peer: cells[0]!,
      round: n(1),
      rps: n(2),
      xDirect: n(3),
      at1kP50Ms: n(6),
      at1kP99Ms: n(7),
      cpuSat: n(9),
      cpuAt1k: n(10),
      rssMb: n(11),
      errors: n(13),
    });
  }
  return rows;
}
