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

/** A CodedError that an HTTP API answers with the status its code maps to. */
export abstract class HttpCodedError<Code extends string> extends CodedError<Code> {
  protected abstract readonly statuses: Readonly<Record<Code, number>>;

  get httpStatus(): number {
    return this.statuses[this.code];
  }
}
