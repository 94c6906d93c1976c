// The demo's rogue workload, seen from a test: it calls orders' gRPC port every 2 s without the
// authorization to, and counts what it is told on GET /stats.
import { expect } from 'vitest';
import type { RogueStats } from '../../examples/orders-checkout/apps/rogue.ts';

export type { RogueStats };

/**
 * Waits for two more of the rogue's attempts (a starved machine delays its timer, so no fixed
 * sleep) and expects each refused: none allowed, and no error other than the refusal. `from` is
 * the URL of its GET /stats, or a reader of them where this process cannot reach it directly.
 */
export async function expectRogueRefused(from: string | (() => RogueStats | Promise<RogueStats>)): Promise<void> {
  const stats = typeof from === 'string' ? async () => (await (await fetch(from)).json()) as RogueStats : async () => from();
  const a = await stats();
  let b = await stats();
  for (const deadline = Date.now() + 60_000; b.refused - a.refused < 2 && b.allowed === 0 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 500));
    b = await stats();
  }
  expect(b.refused - a.refused, JSON.stringify(b)).toBeGreaterThanOrEqual(2);
  expect(b.allowed).toBe(0);
  expect(b.otherErrors - a.otherErrors).toBe(0);
}
