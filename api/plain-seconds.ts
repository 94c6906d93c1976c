// The one rule for a number of seconds a person writes (a flag, a tap parameter): plain decimal
// digits, with at most three after a point (milliseconds), within a range. `Number()` alone would
// take 1e3, 0x10, " 2 " and "" (as 0); each of those is a mistake to name, not a time to guess at.

/** `text` as seconds from `min` to `max`, or undefined when it is not plain seconds in that range. */
export function plainSeconds(text: string, min: number, max: number): number | undefined {
  const n = /^[0-9]+(\.[0-9]{1,3})?$/.test(text) ? Number(text) : NaN;
  return Number.isFinite(n) && n >= min && n <= max ? n : undefined;
}

/** What `plainSeconds(text, min, max)` takes, said for an error. `min` 0 with `above` means "more than 0". */
export function plainSecondsRange(min: number, max: number, above = false): string {
  return `seconds ${above ? `above ${min}` : `from ${min}`} to ${max}, in plain digits such as 10 or 2.5`;
}
