// What a call throws, for tests that look into the error itself (its class, code and message).

/** The error `fn` throws; fails the test if it throws nothing. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
