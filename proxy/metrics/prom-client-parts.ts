// prom-client's Registry, Counter and Gauge, loaded by path instead of through its index: the
// index also loads the default metrics (and with them @opentelemetry/api, 51 files), Summary (and
// tdigest), the Pushgateway and the cluster aggregator, which a proxy never uses: ~11 MB of
// RSS per process (bench/NOTES.md has the figures). Every proxy file imports these from here.
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Registry from 'prom-client/lib/registry.js';

export { Counter, Gauge, Registry };
