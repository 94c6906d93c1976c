// Mode floor: the mesh against its own HTTP/1 floor (bench/h1-floor.ts: the same node:http and
// undici parts over mTLS, no mesh work), each as the one extra peer of ../shared/peer-bench beside
// `direct`, in alternating runs (the order swapped every other pair). run.sh takes one such peer a
// run, hence pairs of runs. Prints each pair's figures and the medians of the paired ratios: what
// the mesh's own work (routing, balancing, metrics, policy, tap) costs over its transport.
import { join } from 'node:path';
import type { BenchMode } from './mode.ts';
import { median } from './compare.ts';
import { peerRows, peersMode, ROOT, runPeerBench, type PeerRow } from './peers.ts';
import { table } from './report.ts';
import { wholeNumber, wholeNumberRange } from '../api/whole-number.ts';

/** One side of a pair: its name in run.sh's table, its setup script, and the checkout it runs from. */
interface Side {
  name: string;
  setup: string;
  repo: string;
}

/** The floor's variants a pair can run (h1-floor.ts's --client and --server): a name in run.sh's table, and its setup script. */
const FLOORS: Record<string, Omit<Side, 'repo'>> = {
  // undici's Pool sending, node:http serving: the floor as first built
  floor: { name: 'h1-floor', setup: 'h1-floor-setup.sh' },
  // the proxy's own HTTP/1 pool sending (--client lean)
  lean: { name: 'h1-floor-lean', setup: 'h1-floor-lean-setup.sh' },
  // that pool sending, and bench/h1-lean-server.ts serving (--server lean --client lean)
  'lean-server': { name: 'h1-floor-lean-server', setup: 'h1-floor-lean-server-setup.sh' },
  // the same with the lean server's parser fed by 'data' events (--server lean-data): against lean-server, what reading the handle saves
  'lean-data': { name: 'h1-floor-lean-data', setup: 'h1-floor-lean-data-setup.sh' },
};

/**
 * The sides of each pair. The first: the mesh, or with FLOOR_FIRST a floor of FLOORS (`lean`: the
 * floor itself sending with the proxy's own HTTP/1 pool). The second: the floor (undici's Pool),
 * another of FLOORS (FLOOR_SECOND=lean: the floor of `--client lean`, against which
 * FLOOR_FIRST=lean-server measures the lean server alone), or with FLOOR_SECOND=base the mesh as
 * built from another checkout, MESH_BASE_REPO (a worktree at the commit before a change): a
 * same-run before/after of the whole mesh.
 */
function sides(): [Side, Side] {
  const first = process.env.FLOOR_FIRST ?? 'mesh';
  const second = process.env.FLOOR_SECOND ?? 'floor';
  const floors = Object.keys(FLOORS).join(', ');
  if (first !== 'mesh' && !(first in FLOORS)) throw new Error(`FLOOR_FIRST must be mesh or one of ${floors}, got "${first}"`);
  if (second !== 'base' && !(second in FLOORS)) throw new Error(`FLOOR_SECOND must be base or one of ${floors}, got "${second}"`);
  if (first === second) throw new Error(`FLOOR_FIRST and FLOOR_SECOND are both "${first}": a pair compares two different sides`);
  const base = process.env.MESH_BASE_REPO;
  if (second === 'base' && !base) throw new Error('FLOOR_SECOND=base needs MESH_BASE_REPO, the checkout to compare against');
  return [
    first === 'mesh' ? { name: 'mesh', setup: 'peer-setup.sh', repo: ROOT } : { ...FLOORS[first]!, repo: ROOT },
    second === 'base' ? { name: 'mesh-base', setup: 'peer-setup.sh', repo: base! } : { ...FLOORS[second]!, repo: ROOT },
  ];
}

export const floorMode: BenchMode = {
  name: 'floor',
  summary: 'the mesh against bench/h1-floor.ts (its own transport, no mesh work) in ../shared/peer-bench, alternating runs; FLOOR_PAIRS pairs (3)',
  available: peersMode.available,
  async run(ctx) {
    const pairs = process.env.FLOOR_PAIRS === undefined ? 3 : wholeNumber(process.env.FLOOR_PAIRS, 1, 20);
    if (pairs === undefined) throw new Error(`FLOOR_PAIRS must be ${wholeNumberRange(1, 20)}, got "${process.env.FLOOR_PAIRS}"`);
    const SIDES = sides();
    const figures: Array<{ mesh: PeerRow; floor: PeerRow; direct: { mesh: PeerRow; floor: PeerRow } }> = [];
    for (let pair = 1; pair <= pairs; pair++) {
      const order = pair % 2 === 1 ? SIDES : [...SIDES].reverse();
      const got: Record<string, { own: PeerRow; direct: PeerRow }> = {};
      for (const side of order) {
        ctx.log(`pair ${pair} of ${pairs}: ${side.name}`);
        const text = await runPeerBench(
          ctx,
          { PEERS: 'direct', ROUNDS: '1', MESH_NAME: side.name, MESH_CMD_SETUP: join(side.repo, 'bench', side.setup), MESH_REPO: side.repo },
          `floor-${pair}-${side.name}.txt`,
        );
        const rows = peerRows(text);
        const own = rows.find((r) => r.peer === side.name);
        const direct = rows.find((r) => r.peer === 'direct');
        if (!own || !direct) throw new Error(`pair ${pair}: run.sh's table has no row for ${own ? 'direct' : side.name}:\n${text}`);
        if (own.errors > 0) throw new Error(`pair ${pair}: ${side.name} answered ${own.errors} errors; its figures would not be a forwarder's`);
        got[side.name] = { own, direct };
      }
      const [first, second] = [got[SIDES[0].name]!, got[SIDES[1].name]!];
      figures.push({ mesh: first.own, floor: second.own, direct: { mesh: first.direct, floor: second.direct } });
    }
    const f = (x: number, digits = 2) => x.toFixed(digits);
    const added = (own: PeerRow, direct: PeerRow) => own.at1kP50Ms - direct.at1kP50Ms;
    const rows = figures.map((p, i) => [
      i + 1,
      `${p.direct.mesh.rps} / ${p.direct.floor.rps}`,
      `${f(p.mesh.xDirect, 3)} / ${f(p.floor.xDirect, 3)}`,
      `${f(p.mesh.rps / p.floor.rps)} / ${f(p.mesh.xDirect / p.floor.xDirect)}`,
      `${f(p.mesh.cpuSat, 1)} / ${f(p.floor.cpuSat, 1)}`,
      f(p.mesh.cpuSat / p.floor.cpuSat),
      `${f(p.mesh.cpuAt1k, 1)} / ${f(p.floor.cpuAt1k, 1)}`,
      `+${f(added(p.mesh, p.direct.mesh))} / +${f(added(p.floor, p.direct.floor))}`,
      f(p.mesh.at1kP50Ms - p.floor.at1kP50Ms),
      `${f(p.mesh.rssMb, 0)} / ${f(p.floor.rssMb, 0)}`,
    ]);
    const medians = {
      rateMeshOverFloor: median(figures.map((p) => p.mesh.rps / p.floor.rps)),
      xDirectMeshOverFloor: median(figures.map((p) => p.mesh.xDirect / p.floor.xDirect)),
      cpuSatMeshOverFloor: median(figures.map((p) => p.mesh.cpuSat / p.floor.cpuSat)),
      cpuAt1kMeshOverFloor: median(figures.map((p) => p.mesh.cpuAt1k / p.floor.cpuAt1k)),
      at1kP50MeshMinusFloorMs: median(figures.map((p) => p.mesh.at1kP50Ms - p.floor.at1kP50Ms)),
      floorAddedAt1kP50Ms: median(figures.map((p) => added(p.floor, p.direct.floor))),
      floorXDirect: median(figures.map((p) => p.floor.xDirect)),
      floorCpuSat: median(figures.map((p) => p.floor.cpuSat)),
    };
    ctx.log('');
    if (SIDES[0].name !== 'mesh' || SIDES[1].name !== 'h1-floor') ctx.log(`(in this table "mesh" is ${SIDES[0].name} and "floor" is ${SIDES[1].name}${SIDES[1].name === 'mesh-base' ? `, the mesh of ${SIDES[1].repo}` : ''})`);
    ctx.log(
      table(
        ['pair', 'direct req/s (mesh run / floor run)', 'x direct (mesh / floor)', 'mesh/floor: rate / x direct', 'CPU ms/1k sat (mesh / floor)', 'CPU mesh/floor', 'CPU ms/1k @1k', '@1k p50 added ms', '@1k p50 mesh-floor ms', 'peak RSS MB (both)'],
        rows,
      ),
    );
    ctx.log('');
    ctx.log(
      `medians of ${pairs} pairs: the mesh does ${f(medians.rateMeshOverFloor)} of the floor's rate (${f(medians.xDirectMeshOverFloor)} each against its own run's direct) for ${f(medians.cpuSatMeshOverFloor)}x its CPU per request saturated, ` +
        `${f(medians.cpuAt1kMeshOverFloor)}x at ~1,000 req/s, and adds ${f(medians.at1kP50MeshMinusFloorMs)} ms p50 to the floor's +${f(medians.floorAddedAt1kP50Ms)} ms over direct; ` +
        `the floor alone: ${f(medians.floorXDirect, 3)} of direct, ${f(medians.floorCpuSat, 1)} ms CPU per 1k saturated`,
    );
    return { pairs: figures, medians };
  },
};
