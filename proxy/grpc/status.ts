// How a gRPC call ended, as the proxy's control-plane client reports it: the status code and
// message from the trailers, or the one the client gives when the call ended without them.
import { CodedError } from '../../api/errors.ts';

/** gRPC's status codes (grpc's `status` enum) that this client and the tap server produce, or callers test for. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const NAMES = new Map<number, string>([
  [0, 'OK'], [1, 'CANCELLED'], [2, 'UNKNOWN'], [3, 'INVALID_ARGUMENT'], [4, 'DEADLINE_EXCEEDED'], [5, 'NOT_FOUND'],
  [6, 'ALREADY_EXISTS'], [7, 'PERMISSION_DENIED'], [8, 'RESOURCE_EXHAUSTED'], [9, 'FAILED_PRECONDITION'], [10, 'ABORTED'],
  [11, 'OUT_OF_RANGE'], [12, 'UNIMPLEMENTED'], [13, 'INTERNAL'], [14, 'UNAVAILABLE'], [15, 'DATA_LOSS'], [16, 'UNAUTHENTICATED'],
]);

/**
 * A call that ended with a status other than OK. `code` is the status's name (a stable string, as
 * every CodedError's); `status` its number and `details` the server's message, as grpc-js names them.
 */
export class GrpcError extends CodedError<string> {
  override readonly name = 'GrpcError';

  constructor(
    readonly status: number,
    readonly details: string,
  ) {
    const name = NAMES.get(status) ?? `STATUS_${status}`;
    super(name, `${status} ${name}: ${details}`);
  }
}

/** An HTTP status that is not 200 on a gRPC response, as the gRPC spec maps it (http-grpc-status-mapping.md). */
export function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return Status.INTERNAL;
    case 401: return Status.UNAUTHENTICATED;
    case 403: return Status.PERMISSION_DENIED;
    case 404: return Status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return Status.UNAVAILABLE;
    default: return Status.UNKNOWN;
  }
}

/** `grpc-message` is percent-encoded (the gRPC spec); a malformed one is shown as sent. */
export function decodeGrpcMessage(raw: string | undefined): string {
  if (!raw) return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The status of a finished call from its trailers (or a trailers-only response's headers); undefined if they hold none. */
export function statusOfTrailers(headers: Record<string, string | string[] | undefined>): GrpcError | 'ok' | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined) return undefined;
  const status = Number(raw);
  if (!Number.isInteger(status) || status < 0) return new GrpcError(Status.UNKNOWN, `the server sent grpc-status ${JSON.stringify(raw)}, not a status code`);
  if (status === Status.OK) return 'ok';
  return new GrpcError(status, decodeGrpcMessage(headers['grpc-message'] as string | undefined));
}
