// `ClientHttp2Session.request()` binds a new AsyncResource to each request's connect callback.
// On Node 20, `AsyncResource.prototype.bind` also gives every bound function an `asyncResource`
// accessor (deprecated, DEP0172) whose getter and setter are each wrapped by `util.deprecate`:
// ~11 us per call, measured in a loop that does nothing else, against ~0.5 us without it. That is
// paid once per request an HTTP/2 client sends (every request between two proxies), for a
// property nothing reads. The proxy replaces the method with the same binding minus that accessor
// (newer Node drops it too); where Node gives no such accessor, nothing is replaced.
import { AsyncResource } from 'node:async_hooks';

type Bind = (this: AsyncResource, fn: unknown, thisArg?: unknown) => (...args: unknown[]) => unknown;
const stockBind = AsyncResource.prototype.bind as unknown as Bind;

/** The binding Node 20 makes (the resource's async scope around each call), without the deprecated accessor. */
function bind(this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown): (...args: unknown[]) => unknown {
  // What is not a function gets Node's own error.
  if (typeof fn !== 'function') return stockBind.call(this, fn, thisArg);
  let bound: (...args: unknown[]) => unknown;
  if (thisArg === undefined) {
    const resource = this;
    bound = function (this: unknown, ...args: unknown[]) {
      return resource.runInAsyncScope(fn, this, ...args);
    };
  } else {
    bound = this.runInAsyncScope.bind(this, fn, thisArg);
  }
  Object.defineProperty(bound, 'length', { configurable: true, enumerable: false, value: fn.length, writable: false });
  return bound;
}

let checked = false;

/** Replaces `AsyncResource.prototype.bind` when Node's adds the deprecated accessor; the first call decides. */
export function useLeanAsyncResourceBind(): void {
  if (checked) return;
  checked = true;
  const probe = stockBind.call(new AsyncResource('mesh-bind-probe'), () => {});
  if (Object.getOwnPropertyDescriptor(probe, 'asyncResource') === undefined) return;
  AsyncResource.prototype.bind = bind as unknown as typeof AsyncResource.prototype.bind;
}
