// The benchmark's app: a plain HTTP/1.1 keep-alive server in its own process, so its CPU is not
// the load generator's. Usage: node bin/run.js bench/upstream-server.ts <host> <port>
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const [host = '127.0.23.101', portText = '8080'] = process.argv.slice(2);
const body = Buffer.from('hello from the bench upstream\n');

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.on('error', (err: NodeJS.ErrnoException) => {
  console.error(`bench upstream: cannot listen on ${host}:${portText}: ${err.code ?? err.message}`);
  process.exit(1);
});
server.listen(Number(portText), host, () => {
  console.log(JSON.stringify({ listening: (server.address() as AddressInfo).port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
