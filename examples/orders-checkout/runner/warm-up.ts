// The last readiness check: requests through the ingress must work end to end (every proxy on
// the path has its certificate, its endpoints and its inbound policy) before the banner says
// "up". A proxy's /ready says it can serve; only a real request says the path is complete.
export async function waitForEndToEnd(ingressUrl: string, deadline: number, stopped: () => boolean): Promise<string | undefined> {
  let last = 'no answer yet';
  const probes: Array<{ what: string; init: RequestInit; path: string }> = [
    { what: 'GET /orders-health', path: '/orders-health', init: {} },
    { what: 'POST /checkout', path: '/checkout', init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"item":"warm-up","quantity":1}' } },
  ];
  while (Date.now() < deadline && !stopped()) {
    let allOk = true;
    for (const probe of probes) {
      try {
        const res = await fetch(`${ingressUrl}${probe.path}`, { ...probe.init, signal: AbortSignal.timeout(5000) });
        const body = await res.text();
        if (res.status >= 400) {
          allOk = false;
          last = `${probe.what} answered ${res.status}: ${body.slice(0, 200).trim()}`;
        }
      } catch (err) {
        allOk = false;
        last = `${probe.what}: ${(err as Error).message}`;
      }
    }
    if (allOk) return undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}
