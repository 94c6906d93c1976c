// Types for bin/proxy-v8-flags.js (plain JavaScript: bin/mesh.js loads it before any TypeScript runs).
export declare function applyProxyV8Flags(execArgv: readonly string[]): void;
