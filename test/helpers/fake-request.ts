// Builds MeshRequests and canned MeshResponses for layer tests against a fake inner service.
import { Readable } from 'node:stream';
import type { HeaderMap, MeshRequest, MeshResponse, RequestContext } from '../../proxy/http/message.ts';

let counter = 0;

export function meshRequest(init: Partial<Omit<MeshRequest, 'ctx'>> & { ctx?: Partial<RequestContext> } = {}): MeshRequest {
  const { ctx, ...rest } = init;
  return {
    protocol: 'http/1.1',
    method: 'GET',
    scheme: 'http',
    authority: 'orders.production.svc.cluster.local:8080',
    path: '/',
    headers: {},
    body: null,
    signal: new AbortController().signal,
    ...rest,
    ctx: {
      id: `t-${++counter}`,
      direction: 'outbound',
      startedAt: performance.now(),
      peer: '127.0.26.9:40000',
      tls: false,
      grpc: false,
      labels: {},
      retries: 0,
      ...ctx,
    },
  };
}

export function response(status: number, body?: string, headers: HeaderMap = {}): MeshResponse {
  return { status, headers, body: body === undefined ? null : Readable.from([Buffer.from(body)], { objectMode: false }) };
}

export async function readAll(body: Readable | Buffer | null): Promise<string> {
  if (!body) return '';
  if (!(body instanceof Readable)) return body.toString(); // a small body read whole
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

/** A response body that must still be streaming (an endless or a slow one). */
export function streamed(body: Readable | Buffer | null): Readable {
  if (!(body instanceof Readable)) throw new Error(`expected a streamed body, got ${body === null ? 'none' : 'a Buffer'}`);
  return body;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
