// The bench's tapper, in a process of its own as the viz would be (not in the load generator's):
// on "open" (a line on stdin) it opens one tap on each address in TAP_ADDRESSES (every request,
// the proxy's full rate, journeys on) and reads them; on "open-none" the same taps with a filter
// that matches no request (what matching alone costs); either may name other addresses after a
// space ("open 127.0.23.100:4190,127.0.23.101:4190") and is answered once every proxy has
// accepted its tap. "count" prints the events received so far; "close" cancels the taps and
// prints {"events":N,"dropped":{"<address>":M,...}} on a line: each proxy's own count, since
// every request passes both proxies and a sum would count it twice.
import { createInterface } from 'node:readline';
import { openTap, type OpenTap } from '../api/tap-client.ts';

const env = process.env as Record<string, string>;
const addresses = env.TAP_ADDRESSES!.split(',');
let open: Array<{ address: string; tap: OpenTap; reading: Promise<void>; dropped: number }> = [];
let events = 0;
const OLDER_BUILD_WAIT_MS = 1_500;

async function openAll(matchNothing: boolean, at: string[]): Promise<void> {
  events = 0;
  const match = matchNothing ? { http: { pathPrefix: '/no-request-has-this-path' } } : undefined;
  open = at.map((address) => {
    const tap = openTap({ address, key: env.TAP_KEY!, cert: env.TAP_CERT!, trustAnchorsPem: env.TAP_ANCHORS! }, { journey: true, ...(match ? { match } : {}) });
    const entry = { address, tap, dropped: 0, reading: Promise.resolve() };
    entry.reading = (async () => {
      for await (const e of tap.events) {
        events++;
        entry.dropped = e.dropped;
      }
    })().catch((err: Error) => {
      process.stderr.write(`tap at ${address} failed: ${err.message}\n`);
    });
    return entry;
  });
  // A build from before the proxy answered with headers at once (--baseline-proxy) sends them
  // with its first event: give it a moment instead.
  const older = new Promise<void>((resolve) => setTimeout(resolve, OLDER_BUILD_WAIT_MS).unref());
  await Promise.race([Promise.all(open.map((o) => o.tap.opened)), older]);
}

async function closeAll(): Promise<{ events: number; dropped: Record<string, number> }> {
  for (const o of open) o.tap.cancel();
  await Promise.all(open.map((o) => o.reading));
  for (const o of open) o.tap.close();
  const dropped = Object.fromEntries(open.map((o) => [o.address, o.dropped]));
  open = [];
  return { events, dropped };
}

for await (const line of createInterface({ input: process.stdin })) {
  const [command, at] = line.split(' ');
  if (command === 'open' || command === 'open-none') {
    const answer = await openAll(command === 'open-none', at ? at.split(',') : addresses).then(
      () => 'opened',
      (err: Error) => `failed: ${err.message}`,
    );
    process.stdout.write(`${answer}\n`);
  } else if (line === 'count') {
    process.stdout.write(`${events}\n`);
  } else if (line === 'close') {
    process.stdout.write(`${JSON.stringify(await closeAll())}\n`);
  }
}
