// Loaded into a proxy by bench/hops.ts (`node --import`): counts what the process schedules, so a
// run can say how many event-loop hops one request costs. Diagnostic only: async_hooks and the
// stack captures slow the process down, so its timings mean nothing.
import { createHook } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';

let counts = Object.create(null);
const bump = (key) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

// Every async resource made (a nextTick, a promise, a timer, an immediate, a write request...).
createHook({ init: (_id, type) => bump(`made ${type}`) }).enable();

// Who schedules: each call counted by its caller's frame, so a hop is traced to its line.
for (const [owner, name] of [[process, 'nextTick'], [globalThis, 'setImmediate'], [globalThis, 'setTimeout'], [globalThis, 'clearTimeout'], [globalThis, 'queueMicrotask']]) {
  const original = owner[name];
  owner[name] = function (...args) {
    const caller = (new Error().stack ?? '').split('\n')[2]?.trim().replace(/^at /, '') ?? '?';
    bump(`${name} from ${caller.replace(/\(file:\/\/.*\/node_modules\/\.cache\/mesh\/[^/]+\//, '(bundle:').replace(/\(.*\/node_modules\//, '(')}`);
    return original.apply(this, args);
  };
}

// SIGUSR2 (sent by bench/hops.ts): write the counts since the last signal to the file named by
// MESH_HOPS_OUT, then start over.
process.on('SIGUSR2', () => {
  writeFileSync(`${process.env.MESH_HOPS_OUT}.${process.pid}.json`, JSON.stringify(counts));
  counts = Object.create(null);
});
