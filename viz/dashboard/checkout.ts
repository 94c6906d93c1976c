// "Send a checkout" from the Journey page: the viz posts one checkout to the demo's front door
// with a fresh `x-request-id`, which the demo apps pass on, so the page can pick out that
// request's events at every hop. Only when the viz was told where the front door is.
import { randomUUID } from 'node:crypto';

export interface SentCheckout {
  requestId: string;
  status: number;
  /** The answer's first 4 KiB, as text (the page shows it as text). */
  body: string;
}

export async function sendCheckout(ingressUrl: string): Promise<SentCheckout> {
  const requestId = randomUUID();
  const res = await fetch(`${ingressUrl}/checkout`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({ item: 'book', quantity: 1 }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.text()).slice(0, 4096);
  return { requestId, status: res.status, body };
}
