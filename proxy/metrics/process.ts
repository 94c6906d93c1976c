// The process gauges an operator expects next to the proxy's own (memory, CPU, FDs, handles, start time).
//
// Hand-rolled instead of prom-client's collectDefaultMetrics: that one installs GC observers
// per call that are never removed, and a test may start many proxies in one process.
import { readdirSync } from 'node:fs';
import { Counter, Gauge, type Registry } from './prom-client-parts.ts';

const START_TIME_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds',
    registers,
    collect() {
      const usage = process.cpuUsage();
      this.reset();
      this.inc((usage.user + usage.system) / 1e6);
    },
  });
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors',
    registers,
    collect() {
      // Linux only, as prom-client's: elsewhere the gauge stays absent rather than lying.
      try {
        this.set(readdirSync('/proc/self/fd').length);
      } catch {
        // no /proc
      }
    },
  });
  new Gauge({
    name: 'nodejs_active_resources_total',
    help: 'Number of active resources keeping the event loop alive (sockets, timers, handles)',
    registers,
    collect() {
      this.set(process.getActiveResourcesInfo().length);
    },
  });
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds',
    registers,
    collect() {
      this.set(START_TIME_SECONDS);
    },
  });
}
