// What the outbound and inbound stacks need from the endpoint tier (EndpointConnector fits it):
// a Service per endpoint for requests, and raw byte tunnels for CONNECT, opaque TCP and WebSocket.
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../../api/destination-types.ts';
import type { Service } from '../http/message.ts';

export interface EndpointClients {
  service(ep: Endpoint): Service;
  openTunnel(ep: Endpoint): Promise<Duplex>;
}
