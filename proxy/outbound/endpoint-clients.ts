// What the outbound and inbound stacks need from the endpoint tier (EndpointConnector fits it):
// a Service per endpoint for requests, and raw byte tunnels for CONNECT, opaque TCP and WebSocket.
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../../api/destination-types.ts';
import type { Service, WireProtocol } from '../http/message.ts';

export interface EndpointClients {
  service(ep: Endpoint): Service;
  /** Opens a connection to `ep` for `protocol` before its first request (a balancer's new endpoint). */
  preconnect?(ep: Endpoint, protocol: WireProtocol): Promise<void>;
  openTunnel(ep: Endpoint): Promise<Duplex>;
}
