// The npm packages a started `mesh proxy` loads itself (the mesh's own dependencies; theirs come
// with them): what bench/import-cost.ts measures, and what test/proxy/loaded-packages.test.ts
// finds a real proxy has loaded. Logs (pino), metrics (prom-client), the control plane's and tap's
// messages (protobufjs, through api/proto-codec.ts); its gRPC, CSR and HTTP/1 client are its own.
export const PROXY_PACKAGES = ['pino', 'prom-client', 'protobufjs'];
