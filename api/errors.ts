// The error base of every part of the mesh: a stable `code` to match on, the message for people.

/**
 * An error with a stable `code`: callers, tests and logs match on the code, never on the message
 * (as undici's errors do). Each part of the mesh subclasses it with its own set of codes.
 */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The base class of a part's errors when one code says what went wrong and the message says the
 * rest: `class ClusterIpError extends codedError('CLUSTER_IP') {}`, thrown as `new ClusterIpError(message)`.
 */
export function codedError<Code extends string>(code: Code) {
  return class extends CodedError<Code> {
    constructor(message: string, options?: ErrorOptions) {
      super(code, message, options);
    }
  };
}

/**
 * The base class of an HTTP API's errors: CodedErrors that the API answers with the status each
 * code maps to in `statuses`, so that a code and its status are written once, side by side.
 */
export function httpCodedError<Code extends string>(statuses: Readonly<Record<Code, number>>) {
  return class HttpCodedError extends CodedError<Code> {
    get httpStatus(): number {
      return statuses[this.code];
    }
  };
}
