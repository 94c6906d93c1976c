// One half of a TCP bridge across network namespaces through a unix socket (a path in the file
// system is reachable from every namespace; a TCP port is not). Run one half inside the
// namespace (ip netns exec) and the other outside:
//   node bridge.mjs listen-tcp PORT SOCKET   accept TCP on 127.0.0.1:PORT (0: any), forward to SOCKET
//   node bridge.mjs listen-unix SOCKET PORT  accept on SOCKET, forward to TCP 127.0.0.1:PORT
// Prints "ready PORT" once listening. Bytes pass through untouched (TLS stays end to end).
import net from 'node:net';
import { rmSync } from 'node:fs';

const [mode, a, b] = process.argv.slice(2);
const pipe = (inbound, outbound) => {
  inbound.on('error', () => outbound.destroy());
  outbound.on('error', () => inbound.destroy());
  inbound.pipe(outbound).pipe(inbound);
};
if (mode === 'listen-tcp') {
  const server = net.createServer((s) => pipe(s, net.connect(b)));
  server.listen(Number(a), '127.0.0.1', () => console.log(`ready ${server.address().port}`));
} else if (mode === 'listen-unix') {
  rmSync(a, { force: true });
  const server = net.createServer((s) => pipe(s, net.connect(Number(b), '127.0.0.1')));
  server.listen(a, () => console.log(`ready ${b}`));
} else {
  console.error('usage: node bridge.mjs listen-tcp PORT SOCKET | listen-unix SOCKET PORT');
  process.exit(2);
}
