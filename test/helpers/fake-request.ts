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

export async function readAll(body: Readable | null): Promise<string> {
  if (!body) return '';
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
