// Types for the two files of undici the proxy loads by path instead of through its index (the
// index also loads fetch, WebSocket, the cache, mocks and proxy agents: ~6 MB of memory and
// most of its load time that a proxy never uses; bench/NOTES.md has the figures).
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}

declare module 'undici/lib/core/util.js' {
  const util: {
    /** The header name as a lower-case string, from undici's table of interned names when it knows it. */
    headerNameToString(value: string | Buffer): string;
  };
  export default util;
}
