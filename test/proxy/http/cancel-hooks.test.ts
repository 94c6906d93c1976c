// http/cancel.ts: one 'abort' listener per signal, fanned out to the hooks registered at that moment.
import { describe, expect, it } from 'vitest';
import { offCancel, onCancel, OwnedSignal } from '../../../proxy/http/cancel.ts';

const hook = () => {
  const h = { calls: 0, onCancel: () => void h.calls++ };
  return h;
};

/** Counts the abort listeners added to `ac`'s signal from now on. */
const countListeners = (ac: AbortController) => {
  const counted = { added: 0 };
  const add = ac.signal.addEventListener.bind(ac.signal);
  ac.signal.addEventListener = ((...args: Parameters<typeof add>) => (counted.added++, add(...args))) as typeof add;
  return counted;
};

describe('cancel hooks', () => {
  it('calls every registered hook once when the signal aborts, and none that left', () => {
    const ac = new AbortController();
    const [a, b, gone] = [hook(), hook(), hook()];
    onCancel(ac.signal, a);
    onCancel(ac.signal, gone);
    onCancel(ac.signal, b);
    offCancel(ac.signal, gone);
    ac.abort();
    ac.abort();
    expect([a.calls, b.calls, gone.calls]).toEqual([1, 1, 0]);
  });

  it('calls a hook at once on a signal that already aborted', () => {
    const ac = new AbortController();
    ac.abort();
    const h = hook();
    onCancel(ac.signal, h);
    expect(h.calls).toBe(1);
  });

  it('serves many requests on one signal with a single abort listener', () => {
    const ac = new AbortController();
    const listeners = countListeners(ac);
    for (let i = 0; i < 100; i++) {
      const h = hook();
      onCancel(ac.signal, h);
      offCancel(ac.signal, h);
    }
    const last = hook();
    onCancel(ac.signal, last);
    ac.abort();
    expect(listeners.added).toBe(1);
    expect(last.calls).toBe(1);
  });

  it('a hook that leaves while the others are being told does not stop them', () => {
    const ac = new AbortController();
    const b = hook();
    const a = { onCancel: () => offCancel(ac.signal, a) };
    onCancel(ac.signal, a);
    onCancel(ac.signal, b);
    ac.abort();
    expect(b.calls).toBe(1);
  });

  it('runs an owned signal\'s hooks when its owner aborts it, with no AbortController or listener at all', () => {
    const signal = new OwnedSignal();
    const [a, b, gone] = [hook(), hook(), hook()];
    onCancel(signal, a);
    onCancel(signal, gone);
    onCancel(signal, b);
    offCancel(signal, gone);
    const reason = new Error('client reset the stream');
    signal.abort(reason);
    signal.abort(new Error('twice'));
    expect([a.calls, b.calls, gone.calls]).toEqual([1, 1, 0]);
    expect([signal.aborted, signal.reason]).toEqual([true, reason]);
    const late = hook();
    onCancel(signal, late);
    expect(late.calls).toBe(1);
  });
});
