// A gRPC echo app (all four call kinds) for data-path tests, with hooks to see cancellations.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

const PROTO = fileURLToPath(new URL('../proxy/fixtures/echo.proto', import.meta.url));
const definition = grpc.loadPackageDefinition(loader.loadSync(PROTO, { keepCase: false, longs: Number, defaults: true })) as never as {
  meshtest: { Echo: grpc.ServiceClientConstructor };
};
export const EchoClient = definition.meshtest.Echo;

interface EchoRequest {
  text: string;
  payload: Buffer;
  sleepMs: number;
  failCode: number;
  count: number;
}

export interface EchoApp {
  port: number;
  /** Calls whose server side saw a cancellation, by the request text. */
  cancelled: string[];
  close(): Promise<void>;
}

const MAX = 8 * 1024 * 1024;

export async function startGrpcEcho(host: string): Promise<EchoApp> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX, 'grpc.max_send_message_length': MAX });
  const app = { cancelled: [] as string[] } as EchoApp;
  const fail = (req: EchoRequest): grpc.ServiceError | null => {
    if (!req.failCode) return null;
    const md = new grpc.Metadata();
    md.set('x-detail', `failed-${req.text}`);
    md.set('x-bin-bin', Buffer.from([1, 2, 3]));
    return Object.assign(new Error(`asked to fail: ${req.text}`), { code: req.failCode, details: `asked to fail: ${req.text}`, metadata: md }) as grpc.ServiceError;
  };
  server.addService(EchoClient.service, {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      call.on('cancelled', () => app.cancelled.push(call.request.text));
      const done = () => {
        const err = fail(call.request);
        if (err) return cb(err);
        const md = new grpc.Metadata();
        md.set('x-trailer', `t-${call.request.text}`);
        cb(null, { text: call.request.text, payload: call.request.payload }, md);
      };
      if (call.request.sleepMs) setTimeout(done, call.request.sleepMs);
      else done();
    },
    ServerStream(call: grpc.ServerWritableStream<EchoRequest, unknown>) {
      call.on('cancelled', () => app.cancelled.push(call.request.text));
      let i = 0;
      const tick = () => {
        if (call.cancelled) return;
        if (i >= call.request.count) {
          const err = fail(call.request);
          if (err) return call.destroy(err);
          return call.end();
        }
        call.write({ text: call.request.text, index: i++ });
        setTimeout(tick, call.request.sleepMs || 0);
      };
      tick();
    },
    ClientStream(call: grpc.ServerReadableStream<EchoRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const texts: string[] = [];
      call.on('data', (r: EchoRequest) => texts.push(r.text));
      call.on('end', () => cb(null, { text: texts.join(','), index: texts.length }));
    },
    Bidi(call: grpc.ServerDuplexStream<EchoRequest, unknown>) {
      let i = 0;
      call.on('cancelled', () => app.cancelled.push('bidi'));
      call.on('data', (r: EchoRequest) => call.write({ text: r.text.toUpperCase(), index: i++ }));
      call.on('end', () => call.end());
    },
  });
  app.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  app.close = () => new Promise((resolve) => server.tryShutdown(() => resolve()));
  return app;
}

export function echoClient(target: string, authority: string, options: grpc.ChannelOptions = {}): grpc.Client & Record<string, Function> {
  return new EchoClient(target, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
    'grpc.max_receive_message_length': MAX,
    'grpc.max_send_message_length': MAX,
    ...options,
  }) as never;
}
