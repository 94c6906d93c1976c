// What a proxy did since it last looked: the requests it began, and the share of the time its event loop was at work.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** One window's load. */
export interface Load {
  /** Requests begun in the window, both sides together. */
  requests: number;
  /** The event loop's share of the window spent at work (0..1): what requests alone miss, a tunnel's bytes. */
  utilization: number;
}

/**
 * The window from the last look (or `restart()`) to now; each `next()` closes one and opens the
 * next. The idle GC reads it to tell a quiet proxy, bin/optimize-when-busy.js a busy one
 * (cli/commands/proxy.ts hands it one at start): one reading of load, two thresholds.
 */
export class LoadWindow {
  private lastRequests: number;
  private lastLoop: EventLoopUtilization;

  constructor(private readonly requestsStarted: () => number) {
    this.lastRequests = requestsStarted();
    this.lastLoop = performance.eventLoopUtilization();
  }

  /** Opens a new window now, forgetting the one under way. */
  restart(): void {
    this.lastRequests = this.requestsStarted();
    this.lastLoop = performance.eventLoopUtilization();
  }

  /** The load of the window since the last look, and a new window from now. */
  next(): Load {
    const requests = this.requestsStarted();
    const loop = performance.eventLoopUtilization();
    const load = { requests: requests - this.lastRequests, utilization: performance.eventLoopUtilization(loop, this.lastLoop).utilization };
    this.lastRequests = requests;
    this.lastLoop = loop;
    return load;
  }
}
