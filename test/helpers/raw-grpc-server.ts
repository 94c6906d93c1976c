// A raw node:http2 server over TLS that holds the destination's identity, and the options a proxy's
// GrpcChannel needs to call it as checkout: for tests of the proxy's own gRPC client against a
// server that does what a test makes it do (GOAWAY, garbage, silence), stream by stream.
import { createSecureServer, type Http2SecureServer, type ServerHttp2Stream } from 'node:http2';
import type { ChannelOptions } from '../../proxy/grpc/channel.ts';
import { productionId, testPki } from './pki.ts';

export interface RawGrpcServer {
  server: Http2SecureServer;
  /** For `new GrpcChannel(...)`: the server's address, a client certificate for checkout, the anchor. */
  options: ChannelOptions;
}

/** Starts the server on 127.0.0.1 (a free port); `onStream` gets each stream the client opens. */
export async function startRawGrpcServer(onStream: (stream: ServerHttp2Stream) => void): Promise<RawGrpcServer> {
  const pki = await testPki();
  const serving = (await pki.credentialsFor('spiffe://cluster.local/ns/mesh-system/sa/destination')).current();
  const server = createSecureServer({ ...serving, ca: pki.anchorPem });
  server.on('stream', onStream);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = await pki.credentialsFor(productionId('checkout'));
  const options: ChannelOptions = {
    addr: `127.0.0.1:${(server.address() as { port: number }).port}`,
    trustAnchorsPem: pki.anchorPem,
    clientCertificate: client.current(),
    servername: 'destination.linkerd.svc.cluster.local',
    checkServerIdentity: () => undefined,
  };
  return { server, options };
}
