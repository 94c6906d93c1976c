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
