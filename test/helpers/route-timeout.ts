// The lesson's route timeouts (500 ms for POST /orders) fire when other work starves the
// machine's two cores: a checkout that crosses a cold path (a replica, the canary or a restarted
// payments that the warm-up did not reach) on a loaded CI machine can pass its deadline. That is
// the mesh doing its job, so a test that judges one checkout tries again on a timeout, and on
// nothing else.

/** A checkout's answer was the timeout's 504 (the proxy's answer when a route's timeout fires, which checkout passes on). */
export const timedOut = (answer: { status: number }): boolean => answer.status === 504;

/** `attempt()` again (five in all, a second apart) while `timedOut` says its answer was a timeout. */
export async function untilNotTimedOut<T>(attempt: () => Promise<T>, timedOut: (r: T) => boolean): Promise<T> {
  let r = await attempt();
  for (let i = 1; i < 5 && timedOut(r); i++) {
    await new Promise((done) => setTimeout(done, 1000));
    r = await attempt();
  }
  return r;
}
