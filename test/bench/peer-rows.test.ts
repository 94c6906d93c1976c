// peerRows reads ../shared/peer-bench's table (this one as run.sh printed it in a real run): the
// per-round rows, each column in its place, the mean rows and the header left out.
import { describe, expect, it } from 'vitest';
import { peerRows } from '../../bench/peers.ts';

const TABLE = `
peer            round         req/s  x direct  p50 ms  p99 ms  @1k p50  @1k p99  @1k req/s  cpu ms/1k sat  cpu ms/1k @1k  RSS MB  A->B conns  errors
--------------  -----  ------------  --------  ------  ------  -------  -------  ---------  -------------  -------------  ------  ----------  ------
direct          1             51428     1.000   0.797   2.670    0.108    0.564        990              -              -       -           -       0
direct          2             26963     1.000   1.520   7.460    0.129    2.160        977              -              -       -           -       0
direct          mean   39195 ±31.2%     1.000   1.159   5.065    0.118    1.362        984              -              -       -                   0

node-2hop-mtls  1              5522     0.107   8.210  22.420    0.980    6.990        943          205.5          525.8   212.3           1       0
node-2hop-mtls  2              4436     0.165  10.130  31.880    1.250   90.720        842          193.5          468.2   210.7           1       0
node-2hop-mtls  mean    4979 ±10.9%     0.136   9.170  27.150    1.115   48.855        892          199.5          497.0   211.5                   0

mesh            1              3648     0.071  12.560  44.710    1.220    8.460        905          275.9          510.2   156.3           -       0
mesh            2              4316     0.160  10.780  25.740    1.040    7.550        923          228.7          462.2   155.3           -       0
mesh            mean     3982 ±8.4%     0.115  11.670  35.225    1.130    8.005        914          252.3          486.2   155.8                   0
`;

describe('peerRows', () => {
  it('takes every per-round row and no mean row', () => {
    const rows = peerRows(TABLE);
    expect(rows.map((r) => `${r.peer} ${r.round}`)).toEqual(['direct 1', 'direct 2', 'node-2hop-mtls 1', 'node-2hop-mtls 2', 'mesh 1', 'mesh 2']);
  });

  it('reads each column in its place, a dash as no figure', () => {
    const rows = peerRows(TABLE);
    const mesh = rows.find((r) => r.peer === 'mesh' && r.round === 1)!;
    expect(mesh).toEqual({ peer: 'mesh', round: 1, rps: 3648, xDirect: 0.071, at1kP50Ms: 1.22, at1kP99Ms: 8.46, cpuSat: 275.9, cpuAt1k: 510.2, rssMb: 156.3, errors: 0 });
    const direct = rows.find((r) => r.peer === 'direct' && r.round === 2)!;
    expect(direct.rps).toBe(26963);
    expect(direct.cpuSat).toBeNaN();
  });

  it('finds nothing in text that is not the table', () => {
    expect(peerRows('run.sh: wrk not found\n')).toEqual([]);
  });
});
