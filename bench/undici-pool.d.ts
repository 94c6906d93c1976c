// Types for undici's Pool loaded by path (bench/h1-floor.ts) instead of through its index, which
// also loads fetch, WebSocket, the cache, mocks and proxy agents: ~6 MB of memory a floor that
// stands for a proxy's transport should not carry.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
