// An order, and its id. The id carries the order itself (base64url JSON) so that any orders
// replica, stable or canary, can answer GET /orders/{id} without a shared database.
import { randomUUID } from 'node:crypto';
import type { OrderMessage } from './grpc-protos.ts';

export interface Order {
  id: string;
  item: string;
  quantity: number;
  amountCents: number;
  createdBy: string;
  createdAt: string;
}

const unitPriceCents = 1250;

export function newOrder(item: string, quantity: number, version: string): Order {
  const body = { n: randomUUID().slice(0, 8), i: item, q: quantity, v: version, t: new Date().toISOString() };
  const id = `o_${Buffer.from(JSON.stringify(body)).toString('base64url')}`;
  return { id, item, quantity, amountCents: quantity * unitPriceCents, createdBy: version, createdAt: body.t };
}

/** Decodes an order id; undefined when the id was not made by newOrder. */
export function orderFromId(id: string): Order | undefined {
  if (!id.startsWith('o_') || id.length > 1024) return undefined;
  try {
    const b = JSON.parse(Buffer.from(id.slice(2), 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof b.i !== 'string' || typeof b.q !== 'number' || typeof b.v !== 'string' || typeof b.t !== 'string') return undefined;
    return { id, item: b.i, quantity: b.q, amountCents: b.q * unitPriceCents, createdBy: b.v, createdAt: b.t };
  } catch {
    return undefined;
  }
}

export function parseOrderInput(input: unknown): { item: string; quantity: number } | string {
  if (typeof input !== 'object' || input === null) return 'expected a JSON object like {"item":"book","quantity":1}';
  const { item, quantity } = input as Record<string, unknown>;
  if (typeof item !== 'string' || item.length === 0 || item.length > 100) return 'item must be a non-empty string (at most 100 characters)';
  if (!Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 1000) return 'quantity must be an integer from 1 to 1000';
  return { item, quantity: quantity as number };
}

export function toMessage(order: Order, servedBy: string): OrderMessage {
  return { ...order, servedBy };
}
