// The one rule for a whole number a person writes (a flag, a tap parameter): plain decimal digits
// within a range. `Number()` alone would take 1e3, 0x10, 1.0, " 2 " and "" (as 0); each of those is
// a mistake to name, not a number to guess at.

/** `text` as a whole number from `min` to `max`, or undefined when it is not one. */
export function wholeNumber(text: string, min: number, max: number): number | undefined {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** What `wholeNumber(text, min, max)` takes, said for an error: "a whole number from 0 to 100". */
export function wholeNumberRange(min: number, max: number): string {
  if (max < Number.MAX_SAFE_INTEGER) return `a whole number from ${min} to ${max}`;
  return min === 1 ? 'a whole number above zero' : `a whole number from ${min} up`;
}
