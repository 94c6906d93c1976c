// Parses the lifetimes operators type on the command line (`24h`, `87600h`, `10s`, `1h30m`, `500ms`).
import { IdentityError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `what` names the option, so a typo is reported where it was made. */
export function parseDuration(text: string, what: string): number {
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h|d)/g) : null;
  if (!parts) {
    throw new IdentityError('INVALID_ARGUMENT', `${what}: "${text}" is not a duration (use e.g. 24h, 90m, 10s, 500ms)`);
  }
  let total = 0;
  for (const part of parts) {
    const [, num, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(part)!;
    total += Number(num) * UNIT_MS[unit!]!;
  }
  if (total <= 0) throw new IdentityError('INVALID_ARGUMENT', `${what}: "${text}" must be longer than zero`);
  return Math.round(total);
}
