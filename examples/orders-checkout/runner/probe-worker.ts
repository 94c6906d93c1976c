// Runs one probe of one container on its schedule, with Kubernetes's semantics: the first
// attempt after initialDelaySeconds, then every periodSeconds; the result flips to success after
// successThreshold consecutive successes and to failure after failureThreshold consecutive failures.
import { probeOnce, type ProbeOutcome } from './prober.ts';
import type { ProbeSpec } from './probe-spec.ts';

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

export class ProbeWorker {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private successes = 0;
  private failures = 0;
  /** The probe's current result: readiness and startup start as failing, liveness as passing. */
  result: boolean;
  last?: ProbeOutcome;

  constructor(
    readonly kind: ProbeKind,
    private readonly spec: ProbeSpec,
    private readonly podIp: string,
    /** Called when the result flips (and, for a failure, with the attempt that made it flip). */
    private readonly onChange: (result: boolean, outcome: ProbeOutcome) => void,
  ) {
    this.result = kind === 'liveness';
  }

  start(): void {
    this.schedule(this.spec.initialDelaySeconds * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.attempt(), ms);
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    const began = Date.now();
    const outcome = await probeOnce(this.spec.action, this.podIp, this.spec.timeoutSeconds * 1000);
    if (this.stopped) return;
    this.last = outcome;
    if (outcome.ok) {
      this.failures = 0;
      this.successes++;
      if (!this.result && this.successes >= this.spec.successThreshold) this.flip(true, outcome);
    } else {
      this.successes = 0;
      this.failures++;
      if (this.result !== false && this.failures >= this.spec.failureThreshold) this.flip(false, outcome);
      // Readiness and startup start as failing: say why they still fail, once the threshold is reached.
      else if (!this.result && this.failures === this.spec.failureThreshold) this.onChange(false, outcome);
    }
    // Periods are counted from the start of an attempt, as the kubelet's ticker does.
    this.schedule(Math.max(0, this.spec.periodSeconds * 1000 - (Date.now() - began)));
  }

  private flip(result: boolean, outcome: ProbeOutcome): void {
    this.result = result;
    this.onChange(result, outcome);
  }
}
