// The floor under any Node sidecar: a relay pair that moves bytes and nothing else. Side a takes
// plain TCP and opens one mTLS connection to side b per client connection; side b checks the
// client's certificate and opens one TCP connection to the app. No HTTP is parsed, so no
// request is routed, balanced, counted or authorised: what remains is what every Node proxy pays
// per request at least (socket reads and writes, TLS records, the event loop).
//   node bin/run.js bench/l4-relay.ts a --listen 127.0.0.1:19500 --peer 127.0.0.1:19501 --certs DIR
//   node bin/run.js bench/l4-relay.ts b --listen 127.0.0.1:19501 --app 127.0.0.1:18080 --certs DIR
// DIR holds ca.pem, a.crt/a.key and b.crt/b.key (../shared/peer-bench's certificates).
import { readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect as tlsConnect, createServer as createTlsServer, createSecureContext } from 'node:tls';
import { splitHostPort } from '../api/host-port.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { listen: { type: 'string' }, peer: { type: 'string' }, app: { type: 'string' }, certs: { type: 'string' } },
});
const side = positionals[0];
if ((side !== 'a' && side !== 'b') || !values.listen || !values.certs || (side === 'a' ? !values.peer : !values.app)) {
  console.error('usage: l4-relay.ts a --listen HOST:PORT --peer HOST:PORT --certs DIR | b --listen HOST:PORT --app HOST:PORT --certs DIR');
  process.exit(2);
}
const listen = splitHostPort(values.listen, '--listen');
if (!listen.host.startsWith('127.')) throw new Error('l4-relay listens on loopback only');
const certs = values.certs;
const pem = (file: string) => readFileSync(join(certs, file));

/** Bytes both ways, each direction's backpressure by pipe; either end closing or failing closes both. */
function splice(down: Socket, up: Socket): void {
  down.setNoDelay(true);
  up.setNoDelay(true);
  const close = () => {
    down.destroy();
    up.destroy();
  };
  down.on('error', close).on('close', close);
  up.on('error', close).on('close', close);
  down.pipe(up);
  up.pipe(down);
}

if (side === 'a') {
  const peer = splitHostPort(values.peer!, '--peer');
  // One context for every connection (a context per connection costs a millisecond of CPU).
  const secureContext = createSecureContext({ ca: pem('ca.pem'), cert: pem('a.crt'), key: pem('a.key') });
  createServer((down) => {
    const up = tlsConnect({ host: peer.host, port: peer.port, secureContext, servername: 'sidecar-b.mesh.local' });
    splice(down, up);
  }).listen(listen.port, listen.host, () => console.log(`l4-relay a ${values.listen} -> mTLS ${values.peer}`));
} else {
  const app = splitHostPort(values.app!, '--app');
  const server = createTlsServer({ ca: pem('ca.pem'), cert: pem('b.crt'), key: pem('b.key'), requestCert: true, rejectUnauthorized: true });
  server.on('secureConnection', (down) => splice(down, connect(app.port, app.host)));
  server.on('tlsClientError', () => {}); // a refused client is the test's business, not the relay's
  server.listen(listen.port, listen.host, () => console.log(`l4-relay b ${values.listen} -> ${values.app}`));
}
