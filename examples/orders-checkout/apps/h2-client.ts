// An HTTP/2 (h2c) client for one authority, sent through the pod's sidecar when there is one.
// With no iptables to intercept traffic, an h2 client reaches its sidecar by connecting to the
// outbound port (the address in HTTP_PROXY) with prior knowledge and the real `:authority`; the
// proxy routes on `:authority`, exactly as it would for intercepted traffic.
import http2 from 'node:http2';
import net from 'node:net';

export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

export class H2Client {
  private session?: http2.ClientHttp2Session;

  /** `url` names the service (`http://payments.production.svc.cluster.local:8080`); `proxy` is `http://POD_IP:4140` or undefined. */
  constructor(private readonly url: string, private readonly proxy: string | undefined) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const via = this.proxy ? new URL(this.proxy) : undefined;
    const session = http2.connect(this.url, {
      createConnection: via
        ? () => net.connect({ host: via.hostname, port: Number(via.port || 80), noDelay: true })
        : undefined,
    });
    // Errors surface on the request; this listener keeps a broken session from crashing the app.
    session.on('error', () => {});
    session.on('goaway', () => session.close());
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }

  request(method: string, path: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<H2Response> {
    return new Promise((resolve, reject) => {
      const stream = this.connect().request({ ':method': method, ':path': path, ...headers }, { endStream: body === undefined });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      let response: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (response = h));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // A stream reset (ours at the timeout, or the peer's) ends without 'error', possibly after the
      // headers: only a stream closed with NO_ERROR carries a whole response.
      stream.on('close', () => {
        clearTimeout(timer);
        if (timedOut) return reject(new Error(`no complete response from ${this.url}${path} within ${timeoutMs} ms`));
        if (!response || stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
          return reject(new Error(`${response ? 'incomplete' : 'no'} response from ${this.url}${path} (stream closed, code ${stream.rstCode})`));
        }
        resolve({ status: Number(response[':status']), headers: response, body: Buffer.concat(chunks).toString('utf8') });
      });
      if (body !== undefined) stream.end(body);
    });
  }

  close(): void {
    this.session?.close();
  }
}
