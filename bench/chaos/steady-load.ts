// Steady load through the demo's ingress for the chaos suite: POST /checkout at a fixed rate
// (open loop: a slow answer does not slow the sending), each request's start, end and outcome kept.
import { Pool } from 'undici';

export interface Outcome {
  startMs: number;
  endMs: number;
  /** HTTP status, or 0 when no response came (connection error, timeout). */
  status: number;
  /** The proxy's error header, or the client's error code. */
  error?: string;
  /** The start of a failed response's body, to tell who answered. */
  body?: string;
}

export const failed = (o: Outcome) => o.status === 0 || o.status >= 500;

export class SteadyLoad {
  readonly outcomes: Outcome[] = [];
  private timer?: NodeJS.Timeout;
  private readonly pool: Pool;
  private inFlight = 0;

  constructor(private readonly url: string, private readonly ratePerSecond: number, private readonly timeoutMs = 5000) {
    this.pool = new Pool(new URL(url).origin, { connections: 64, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  start(): void {
    const intervalMs = 1000 / this.ratePerSecond;
    let next = Date.now();
    const tick = () => {
      const now = Date.now();
      // Catch up on any tick the event loop was too busy to run, so the rate holds.
      while (next <= now) {
        next += intervalMs;
        void this.one();
      }
      this.timer = setTimeout(tick, Math.max(1, next - Date.now()));
    };
    tick();
  }

  private async one(): Promise<void> {
    const startMs = Date.now();
    this.inFlight++;
    try {
      const res = await this.pool.request({
        path: new URL(this.url).pathname, method: 'POST',
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'chaos', quantity: 1 }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const proxyError = res.headers['l5d-proxy-error'];
      // Bodies of failures are kept (their start): which hop answered is the first question.
      const body = res.statusCode >= 500 ? (await res.body.text()).slice(0, 300) : (await res.body.dump(), undefined);
      this.outcomes.push({ startMs, endMs: Date.now(), status: res.statusCode, ...(proxyError ? { error: String(proxyError) } : {}), ...(body ? { body } : {}) });
    } catch (err) {
      this.outcomes.push({ startMs, endMs: Date.now(), status: 0, error: (err as { code?: string }).code ?? (err as Error).name });
    } finally {
      this.inFlight--;
    }
  }

  /** Outcomes of requests started in [fromMs, toMs). */
  between(fromMs: number, toMs: number): Outcome[] {
    return this.outcomes.filter((o) => o.startMs >= fromMs && o.startMs < toMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    const deadline = Date.now() + this.timeoutMs + 1000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.pool.close();
  }
}
