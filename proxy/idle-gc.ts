// Gives the heap back when the proxy turns quiet: one full garbage collection once few requests arrive and the heap has grown since the last.
import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';
import { LoadWindow, type Load } from './load-window.ts';

/**
 * A window with at most this many requests a second, on average, counts as quiet. The demo's
 * traffic generator sends 2 a second, so its proxies are quiet between bursts of `mesh load`;
 * under load V8 paces its own collections by allocation, and a full GC would only add a pause.
 */
const QUIET_REQUESTS_PER_SECOND = 10;
/**
 * ...and its event loop was busy at most this share of the window. Requests are not all of a
 * proxy's work: an opaque TCP tunnel, a WebSocket or a long gRPC stream carries traffic with no
 * request begun, and a full GC there (10-77 ms on this machine) would stall live bytes. A proxy at
 * 10 requests a second is busy well under 1% of the time.
 */
const QUIET_LOOP_UTILIZATION = 0.05;
/**
 * Collect only once the committed heap has grown by this much since the last full collection
 * seen here: a burst's growth (a busy proxy's heap goes from ~12 to 20-27 MB), not the garbage
 * a few requests a second leave between V8's own collections (its used heap grows ~2 MB in 10 s
 * at the demo's rate, and a 1 MB threshold made checkout's proxy stop for 9-42 ms every 10-20 s).
 */
const GROWTH_BYTES = 4 << 20;

export interface IdleGcOptions {
  /** How often the proxy looks at its request count and its heap. */
  intervalMs: number;
  /** Requests started so far, both sides together (read once per interval). */
  requestsStarted: () => number;
  logger: Logger;
}

/** Few requests began in the window, and the event loop was mostly idle through it. */
function quiet(load: Load, windowMs: number): boolean {
  return load.requests <= (QUIET_REQUESTS_PER_SECOND * windowMs) / 1000 && load.utilization <= QUIET_LOOP_UTILIZATION;
}

interface HeapSize {
  used: number;
  committed: number;
}

function heapSize(): HeapSize {
  const s = getHeapStatistics();
  return { used: s.used_heap_size, committed: s.total_heap_size };
}

let collectGarbage: (() => void) | undefined;

/**
 * V8's `gc()`: the one from the command line's `--expose-gc` if given, else made once. V8 installs
 * it in contexts created while the flag is set, so a small context made then holds it (~0.2 MB).
 */
function gcFunction(): () => void {
  const given = (globalThis as { gc?: () => void }).gc;
  if (given) return given;
  if (!collectGarbage) {
    setFlagsFromString('--expose-gc');
    collectGarbage = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
  }
  return collectGarbage;
}

/** `--optimize-for-size` given on the command line: then it stays on, and is not toggled here. */
const SIZE_FLAG_GIVEN = process.execArgv.some((arg) => /^--(no-)?optimize-for-size$/.test(arg));

/**
 * One full GC with `--optimize-for-size` set while it runs: V8 then compacts old-space pages that
 * are at least 20% free instead of leaving them half used, so whole pages go back to the system.
 * No JavaScript runs while the flag is on.
 */
function compactingGc(): void {
  if (!SIZE_FLAG_GIVEN) setFlagsFromString('--optimize-for-size');
  try {
    gcFunction()();
  } finally {
    if (!SIZE_FLAG_GIVEN) setFlagsFromString('--no-optimize-for-size');
  }
}

/**
 * How long after the first collection the second runs: V8 sweeps the first one's pages
 * concurrently and releases the pages left empty only at its next GC, so the second gives those
 * back. Two pauses apart rather than one twice as long.
 */
const SECOND_GC_DELAY_MS = 1000;

/**
 * Why: after a burst of traffic V8 keeps the heap it grew (old-space pages with garbage on them
 * until the next full GC, which at a few requests a second may be minutes away), and its own
 * memory reducer starts again only once the committed heap grows by 10 MB since its last run.
 * Start-up counts as such a burst. Measured in bench/NOTES.md (round 5, memory; round 7, idle memory).
 */
export class IdleGc {
  private timer: NodeJS.Timeout | undefined;
  private second: NodeJS.Timeout | undefined;
  /** The window being looked at: requests begun, the event loop's use. */
  private readonly load: LoadWindow;
  /**
   * The heap after the last full collection seen here; none yet at start. Start-up is a burst of
   * its own (modules compiled, protos parsed, the certificate, the first connections): whether V8
   * collected its garbage by itself before the proxy turned quiet was a matter of timing, and a
   * proxy it had not held ~4 MB more for as long as it stayed idle. So
   * the first quiet window after start collects whatever the heap's size.
   */
  private last: HeapSize | undefined;
  constructor(private readonly opts: IdleGcOptions) {
    this.load = new LoadWindow(opts.requestsStarted);
  }

  /** Looks every interval; the timer never keeps the process alive. */
  start(): void {
    if (this.timer) return;
    this.load.restart();
    this.timer = setInterval(() => this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.second);
    this.timer = this.second = undefined;
  }

  private check(): void {
    const load = this.load.next();
    if (!quiet(load, this.opts.intervalMs) || this.second) return;
    const before = heapSize();
    if (this.last && before.committed - this.last.committed < GROWTH_BYTES) {
      // V8 may have collected by itself since: what it left is the new reference.
      if (before.committed < this.last.committed) this.last = before;
      return;
    }
    const started = performance.now();
    compactingGc();
    const ms = performance.now() - started;
    const after = heapSize();
    this.last = after;
    const mb = (n: number) => Math.round(n / 1e5) / 10;
    this.opts.logger.debug(
      { requests: load.requests, ms: Math.round(ms * 10) / 10, usedMb: [mb(before.used), mb(after.used)], committedMb: [mb(before.committed), mb(after.committed)] },
      'quiet: full GC',
    );
    // The second collection only if the proxy is still quiet (the first one's own pause not counted).
    const afterFirst = new LoadWindow(this.opts.requestsStarted);
    this.second = setTimeout(() => {
      this.second = undefined;
      if (!quiet(afterFirst.next(), SECOND_GC_DELAY_MS)) return;
      compactingGc();
      this.last = heapSize();
    }, SECOND_GC_DELAY_MS);
    this.second.unref();
  }
}
