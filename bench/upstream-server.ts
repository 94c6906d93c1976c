// The benchmark's app: a keep-alive server in its own process, so its CPU is not the load
// generator's. It speaks HTTP/1.1 and HTTP/2 without TLS (h2c, prior knowledge) on one port,
// told apart by the connection's first bytes, so h2load can reach it directly and through the
// mesh (whose inbound proxy forwards HTTP/2 as HTTP/2). Usage: node bin/run.js bench/upstream-server.ts <host> <port>
import { createServer } from 'node:http';
import { createServer as createH2Server } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';

const [host = '127.0.23.101', portText = '8080'] = process.argv.slice(2);
const body = Buffer.from('hello from the bench upstream\n');
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

const http1 = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
const h2 = createH2Server({}, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
h2.on('sessionError', () => {});

// The first bytes decide: the HTTP/2 preface goes to the HTTP/2 server, anything else to HTTP/1.1.
const server = createTcpServer((socket: Socket) => {
  socket.on('error', () => socket.destroy());
  socket.once('readable', () => {
    const first: Buffer | null = socket.read(H2_PREFACE.length) ?? socket.read();
    if (!first) return socket.destroy();
    socket.unshift(first);
    (first.length >= 3 && first.subarray(0, 3).equals(H2_PREFACE.subarray(0, 3)) ? h2 : http1).emit('connection', socket);
  });
});
server.on('error', (err: NodeJS.ErrnoException) => {
  console.error(`bench upstream: cannot listen on ${host}:${portText}: ${err.code ?? err.message}`);
  process.exit(1);
});
server.listen(Number(portText), host, () => {
  console.log(JSON.stringify({ listening: (server.address() as AddressInfo).port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
