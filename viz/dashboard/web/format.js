// Numbers as the CLI prints them, and the colour a success rate earns.

export const pct = (x) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(2)}%`);
export const rps = (x) => (x === null || x === undefined ? '-' : `${x.toFixed(1)}rps`);
export const ms = (x) => (x === null || x === undefined ? '-' : `${Math.round(x)}ms`);
export const us = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)} ms` : `${Math.round(x)} µs`);

/** good (>= 99%), warn (>= 95%), bad (below), or idle (no traffic): a CSS class. */
export function health(success) {
  if (success === null || success === undefined) return 'idle';
  if (success >= 0.99) return 'good';
  if (success >= 0.95) return 'warn';
  return 'bad';
}

/** The short name of a SPIFFE identity: `sa/ns`. */
export function shortId(id) {
  const m = /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id || '');
  return m ? `${m[2]}.${m[1]}` : id || '';
}
