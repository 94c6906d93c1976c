// Keeps one label's distinct values bounded: the first N values are kept, later ones fold into "other".
//
// Label values such as the authority come from clients (a Host header): a hostile or buggy
// client could otherwise mint a new time series per request and grow the proxy's memory and
// every scrape without bound.

export const OTHER = 'other';

/** Longest value kept as is: a DNS name (253) plus a port. Longer values are never legitimate authorities. */
const MAX_VALUE_LENGTH = 260;

export class BoundedLabelValues {
  private readonly seen = new Set<string>();

  constructor(
    /** Which label this bounds, for the README and debugging. */
    readonly label: string,
    readonly maxDistinct: number,
  ) {}

  /** `value` itself while there is room (or it was seen before), else "other". */
  value(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.maxDistinct || value.length > MAX_VALUE_LENGTH) {
      return OTHER;
    }
    this.seen.add(value);
    return value;
  }

  /** True once the cap is reached: new values now fold into "other". */
  get full(): boolean {
    return this.seen.size >= this.maxDistinct;
  }
}
