// The app's own HTTP version: a Service port's `appProtocol` (through the destination, as the
// port's policy says) tells the inbound proxy which version the app speaks, and a request that
// arrived in the other one is sent to the app in the app's. The response comes back through the
// same edge that took the request, which writes it in the client's version.
import type { Layer } from '../http/message.ts';

/**
 * Without an `appProtocol` the request passes as it arrived (Linkerd's behaviour). HTTP/2 to
 * HTTP/1.1 keeps headers, body and trailers: the endpoint client sends the trailers in a chunked
 * body's trailer section, which a body with a `content-length` does not have (there they are
 * dropped). Response trailers travel back on chunked HTTP/1.1 responses. The port's policy is
 * the one the authorization layer admitted the request under (`ctx.inboundPolicy`): no lookup of
 * its own per request.
 */
export const appProtocolLayer: Layer = (inner) => (req) => {
  const wanted = req.ctx.inboundPolicy?.appProtocol;
  if (wanted === undefined || wanted === req.protocol) return inner(req);
  req.ctx.journey?.add('app-protocol', `${req.protocol} -> ${wanted} (the port's appProtocol)`);
  return inner({ ...req, protocol: wanted });
};
